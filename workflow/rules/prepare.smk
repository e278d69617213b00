# Raw sections -> prepared train/val/test volumes and patch index per task; Table 1.


rule prepare_task:
    input:
        source_inputs,
    output:
        prepared("{task}", "train", "val", "test"),
        patches=f"{RES}/prepared/{{task}}/patches.json",
    log:
        f"{LOGS}/prepare_task/{{task}}.log",
    benchmark:
        f"{LOGS}/prepare_task/{{task}}.benchmark.tsv"
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
        expand(f"{RES}/prepared/{{task}}/patches.json", task=list(CFG.tasks)),
    output:
        csv=report(f"{R}/tables/table1.csv", caption="../report/table1.rst", category="Tables"),
        md=f"{R}/tables/table1.md",
    log:
        f"{LOGS}/make_table1/make_table1.log",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/make_table1.py"
