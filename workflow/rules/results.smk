# Tables and figures: pure functions of the cached metric JSON files.


rule make_table2:
    input:
        [metrics_path(run) for run in design.table2_runs(EXP)],
    output:
        csv=report(f"{R}/tables/table2.csv", caption="../report/table2.rst", category="Tables"),
        md=f"{R}/tables/table2.md",
        long=f"{R}/tables/table2_long.csv",
        paper_vs_ours=f"{R}/tables/table2_paper_vs_ours.csv",
        gains=f"{R}/tables/source_gains.csv",
        source_ranking=f"{R}/tables/source_ranking.csv",
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
