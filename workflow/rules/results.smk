# Tables and figures: pure functions of the cached metric JSON files.


rule make_table2:
    input:
        [metrics_path(run) for run in design.table2_runs(EXP)],
    output:
        csv=report(f"{R}/tables/table2.csv", caption="../report/table2.rst", category="Tables"),
        md=f"{R}/tables/table2.md",
        long=f"{R}/tables/table2_long.csv",
        paper_vs_ours=report(f"{R}/tables/table2_paper_vs_ours.csv", caption="../report/paper_vs_ours.rst", category="Tables"),
        gains=f"{R}/tables/source_gains.csv",
        source_ranking=report(f"{R}/tables/source_ranking.csv", caption="../report/source_ranking.rst", category="Tables"),
        heatmap=report(f"{R}/figures/table2_heatmap.png", caption="../report/table2_heatmap.rst", category="Figures"),
    log:
        f"{LOGS}/make_table2/make_table2.log",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/make_table2.py"


rule plot_fig2:
    input:
        [metrics_path(run) for run in design.fig2_runs(EXP)],
    output:
        report(f"{R}/figures/fig2.png", caption="../report/fig2.rst", category="Figures"),
    log:
        f"{LOGS}/plot_fig2/plot_fig2.log",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/plot_fig2.py"


if "fig3" in FIGS:

    rule plot_fig3:
        input:
            predictions=[prediction(r) for r in FIG_RUNS["fig3"]],
            test=prepared(task_data(FIGS["fig3"]["target"], FIGS["rep"]), "test"),
            patches=patch_index(task_data(FIGS["fig3"]["target"], FIGS["rep"])),
        output:
            report(f"{R}/figures/fig3.png", caption="../report/fig3.rst", category="Figures"),
        log:
            f"{LOGS}/plot_fig3/plot_fig3.log",
        conda:
            "../../envs/vemtransfer.yaml"
        script:
            "../scripts/plot_fig3.py"


if "fig4" in FIGS:

    rule plot_fig4:
        input:
            predictions=[prediction(r) for r in FIG_RUNS["fig4"]],
            tests=[f for p in FIGS["fig4"]["pairs"] for f in prepared(task_data(p["target"], FIGS["rep"]), "test")],
        output:
            report(f"{R}/figures/fig4.png", caption="../report/fig4.rst", category="Figures"),
        log:
            f"{LOGS}/plot_fig4/plot_fig4.log",
        conda:
            "../../envs/vemtransfer.yaml"
        script:
            "../scripts/plot_fig4.py"


if "fig5" in FIGS:

    rule plot_fig5:
        input:
            predictions=[f"{R}/predictions/volume/{name}.zarr" for name in FIGS["fig5"]["models"]],
            info=f"{RES}/prepared/volumes/fig5.json",
        output:
            report(f"{R}/figures/fig5.png", caption="../report/fig5.rst", category="Figures"),
        log:
            f"{LOGS}/plot_fig5/plot_fig5.log",
        benchmark:
            f"{LOGS}/plot_fig5/plot_fig5.benchmark.tsv"
        conda:
            "../../envs/vemtransfer.yaml"
        script:
            "../scripts/plot_fig5.py"


RECOMMEND = CFG.raw["recommend"]["tasks"]

if RECOMMEND:

    rule recommend_source:
        input:
            lambda w: [f"{R}/models/{run.model_id}/history.json" for run in design.recommend_runs(EXP, w.task)],
        output:
            md=f"{R}/{{task}}/recommendation.md",
            csv=f"{R}/{{task}}/recommendation.csv",
            curve=report(f"{R}/{{task}}/learning_curve.png", caption="../report/learning_curve.rst", category="Recommendation"),
            choice=f"{R}/{{task}}/chosen_model.json",
        log:
            f"{LOGS}/recommend_source/{{task}}.log",
        wildcard_constraints:
            task="|".join(RECOMMEND),
        conda:
            "../../envs/vemtransfer.yaml"
        script:
            "../scripts/recommend_source.py"
