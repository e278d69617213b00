# Public sources -> verified section store + manifest (only the sections the tasks need).


rule download_source:
    # {dataset} is a key of the config's `sources` (the {source} wildcard elsewhere is a pretraining task)
    output:
        f"{RES}/raw/{{dataset}}/manifest.json",
    log:
        f"{LOGS}/download_source/{{dataset}}.log",
    benchmark:
        f"{LOGS}/download_source/{{dataset}}.benchmark.tsv"
    conda:
        "../../envs/vemtransfer.yaml"
    wildcard_constraints:
        dataset=r"[A-Za-z0-9_]+",
    script:
        "../scripts/download_source.py"
