# Public datasets -> verified section store + manifest (only the sections the tasks need).


rule download_dataset:
    # {dataset} is a key of the config's `datasets` (raw data; the {source} wildcard elsewhere is a pretraining task)
    input:
        # a section_files dataset's checksum list: editing it downloads and verifies again
        unpack(lambda w: checksum_list(w.dataset)),
    params:
        **job("download_dataset.py", datasets=lambda w: [w.dataset]),
        # the sections the tasks need: a task region that needs other sections reruns the download
        needed=lambda w: needed_sections(CFG, w.dataset),
    output:
        L.manifest("{dataset}"),
    log:
        L.log("download_dataset", "{dataset}"),
    benchmark:
        L.benchmark("download_dataset", "{dataset}")
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/download_dataset.py"
