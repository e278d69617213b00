# Public sources -> verified section store + manifest (only the sections the tasks need).


rule download_source:
    # {dataset} is a key of the config's `sources` (the {source} wildcard elsewhere is a pretraining task)
    input:
        # a section_files source's checksum list: editing it downloads and verifies again
        unpack(lambda w: checksum_list(w.dataset)),
    params:
        # the sections the tasks need: a task region that needs other sections reruns the download
        needed=lambda w: needed_sections(CFG, w.dataset),
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
