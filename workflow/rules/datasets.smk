# Raw data -> prepared train/val/test volumes and patch index per task.


rule download_source:
    # Real sources (SNEMI3D, UroCell, EMPIAR-10791, rat liver): see vemtransfer.sources.
    output:
        f"{RES}/raw/{{source}}/manifest.json",
    log:
        f"{LOGS}/download_source/{{source}}.log",
    benchmark:
        f"{LOGS}/download_source/{{source}}.benchmark.tsv"
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/download_source.py"


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
