# Public sources -> verified section store + manifest (only the sections the tasks need).


rule download_source:
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
