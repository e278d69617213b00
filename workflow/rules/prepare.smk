# Raw sections -> prepared train/val/test volumes and patch index per task; Table 1.


rule prepare_task:
    # {data}: a task id, or <task>/fold<k> for each fold of a task with folds (UroCell)
    input:
        source_inputs,
    output:
        prepared("{data}", "train", "val", "test"),
        patches=patch_index("{data}"),
    log:
        f"{LOGS}/prepare_task/{{data}}.log",
    benchmark:
        f"{LOGS}/prepare_task/{{data}}.benchmark.tsv"
    threads: CFG.raw["resources"]["prepare"]["threads"]
    resources:
        mem_mb=CFG.raw["resources"]["prepare"]["mem_mb"],
        runtime=CFG.raw["resources"]["prepare"]["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/prepare_task.py"


rule make_table1:
    input:
        [patch_index(data) for task in CFG.tasks.values() for data in task.data_ids()],
    output:
        csv=report(f"{R}/tables/table1.csv", caption="../report/table1.rst", category="Tables"),
        md=f"{R}/tables/table1.md",
    log:
        f"{LOGS}/make_table1/make_table1.log",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/make_table1.py"
