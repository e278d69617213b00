# Tables, figures and recommendations: pure functions of the cached metrics, histories and predictions.

REPORT_KEYS = ("experiment", "recommend.repeats", "demo")


rule make_table2:
    input:
        unpack(lambda w: paper_results()),
        metrics=[L.metrics(run.model_id) for run in grid.table2_runs(EXP)],
    params:
        **job("make_table2.py", *REPORT_KEYS),
    output:
        csv=report(L.table("table2.csv"), caption="../report/table2.rst", category="Tables"),
        md=L.table("table2.md"),
        long=L.table("table2_long.csv"),
        paper_vs_ours=report(L.table("table2_paper_vs_ours.csv"), caption="../report/paper_vs_ours.rst", category="Tables"),
        gains=L.table("source_gains.csv"),
        source_ranking=report(L.table("source_ranking.csv"), caption="../report/source_ranking.rst", category="Tables"),
        source_ranking_md=L.table("source_ranking.md"),
        heatmap=report(L.figure("table2_heatmap.png"), caption="../report/table2_heatmap.rst", category="Figures"),
    log:
        L.log("make_table2", "make_table2"),
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/make_table2.py"


rule plot_fig2:
    input:
        [L.metrics(run.model_id) for run in grid.fig2_runs(EXP)],
    params:
        **job("plot_fig2.py", *REPORT_KEYS),
    output:
        report(L.figure("fig2.png"), caption="../report/fig2.rst", category="Figures"),
    log:
        L.log("plot_fig2", "plot_fig2"),
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/plot_fig2.py"


if "fig3" in FIGS:

    rule plot_fig3:
        input:
            predictions=[zarr_marker(L.test_prediction(r.model_id)) for r in FIG_RUNS["fig3"]],
            test=L.prepared(task_data(FIGS["fig3"]["target"], FIGS["rep"]), "test"),
            patches=L.patch_index(task_data(FIGS["fig3"]["target"], FIGS["rep"])),
        params:
            **job("plot_fig3.py", "figures.fig3", "figures.render_px", "demo", tasks=[FIGS["fig3"]["target"]],
                  datasets=[CFG.tasks[FIGS["fig3"]["target"]].dataset]),
        output:
            report(L.figure("fig3.png"), caption="../report/fig3.rst", category="Figures"),
        log:
            L.log("plot_fig3", "plot_fig3"),
        conda:
            "../../envs/vemtransfer.yaml"
        script:
            "../scripts/plot_fig3.py"


if "fig4" in FIGS:

    rule plot_fig4:
        input:
            predictions=[zarr_marker(L.test_prediction(r.model_id)) for r in FIG_RUNS["fig4"]],
            tests=[L.prepared(task_data(p["target"], FIGS["rep"]), "test")[0] for p in FIGS["fig4"]["pairs"]],
        params:
            **job("plot_fig4.py", "figures.fig4", "demo"),
        output:
            report(L.figure("fig4.png"), caption="../report/fig4.rst", category="Figures"),
        log:
            L.log("plot_fig4", "plot_fig4"),
        conda:
            "../../envs/vemtransfer.yaml"
        script:
            "../scripts/plot_fig4.py"


if "fig5" in FIGS:

    rule plot_fig5:
        input:
            predictions=[zarr_marker(L.volume_prediction(name)) for name in FIGS["fig5"]["models"]],
            info=L.volume_info("fig5"),
        params:
            **job("plot_fig5.py", "figures.fig5", "figures.render_px", "demo"),
        output:
            report(L.figure("fig5.png"), caption="../report/fig5.rst", category="Figures"),
        log:
            L.log("plot_fig5", "plot_fig5"),
        benchmark:
            L.benchmark("plot_fig5", "plot_fig5")
        conda:
            "../../envs/vemtransfer.yaml"
        script:
            "../scripts/plot_fig5.py"


if RECOMMEND:

    rule recommend_source:
        input:
            histories=lambda w: [L.history(run.model_id) for run in grid.recommend_runs(EXP, w.task)],
            rungs=lambda w: [L.recommend(w.task, rung_grid.survivors_name(k)) for k in range(1, len(RUNGS))] if FAST else [],
        params:
            **job("recommend_source.py", *REPORT_KEYS, "recommend.protocol", "recommend.rungs"),
        output:
            md=L.recommend("{task}", "recommendation.md"),
            csv=L.recommend("{task}", "recommendation.csv"),
            curve=report(L.recommend("{task}", "learning_curve.png"), caption="../report/learning_curve.rst", category="Recommendation"),
            choice=L.recommend("{task}", "chosen_model.json"),
        log:
            L.log("recommend_source", "{task}"),
        wildcard_constraints:
            task="|".join(RECOMMEND),
        conda:
            "../../envs/vemtransfer.yaml"
        script:
            "../scripts/recommend_source.py"
