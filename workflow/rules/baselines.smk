# Paper Table 3: SAM2.1 and MitoNet baselines on raw-resolution sections (config `baselines`), and the
# random-forest pixel classifier on the prepared splits. Rows come from vemtransfer.baselines.rows;
# SAM2's and MitoNet's heavy dependencies are the `baselines` extra.


rule download_weights:
    params:
        **job("download_weights.py", lambda w: f"baselines.{WEIGHTS[w.weights]}.weights"),
        model=lambda w: WEIGHTS[w.weights],
    output:
        L.weights("{weights}"),
    log:
        L.log("download_weights", "{weights}"),
    benchmark:
        L.benchmark("download_weights", "{weights}")
    wildcard_constraints:
        weights="|".join(map(re.escape, WEIGHTS)) or "no-weights-configured",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/download_weights.py"


rule prepare_raw_split:
    input:
        unpack(task_dataset_inputs),
    params:
        **job("prepare_raw_split.py", tasks=task_of, datasets=dataset_of),
    output:
        L.raw_split("{task}", "{split}"),
    log:
        L.log("prepare_raw_split", "{task}/{split}"),
    benchmark:
        L.benchmark("prepare_raw_split", "{task}/{split}")
    wildcard_constraints:
        split="train|test",
    resources:
        mem_mb=PREP_RES["mem_mb"],
        runtime=PREP_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/prepare_raw_split.py"


rule segment_sam2:
    input:
        test=L.raw_split("{task}", "test"),
        weights=lambda w: L.weights(weights_name("sam2")),
    params:
        **job("segment_sam2.py", "baselines.sam2", "baselines.sections", "seed", "demo"),
    output:
        json=L.baseline_metrics("{task}", "sam2_{mode}"),
        npz=L.baseline_prediction("{task}", "sam2_{mode}"),
    log:
        L.log("segment_sam2", "{task}/sam2_{mode}"),
    benchmark:
        L.benchmark("segment_sam2", "{task}/sam2_{mode}")
    wildcard_constraints:
        mode="automatic|boxes|boxes_masks",
    threads: BASE_RES["threads"]
    resources:
        gpu=1,
        mem_mb=BASE_RES["mem_mb"],
        runtime=BASE_RES["runtime"],
    conda:
        "../../envs/sam2.yaml"
    script:
        "../scripts/segment_sam2.py"


rule segment_mitonet:
    # zero-shot (mitonet_<scale>x) or fine-tuned on a patch set (mitonet-<set>_<scale>x)
    input:
        test=L.raw_split("{task}", "test"),
        model=mitonet_model,
    params:
        **job("segment_mitonet.py", "baselines.mitonet.engine", "baselines.sections", "demo"),
    output:
        json=L.baseline_metrics("{task}", "{method}"),
        npz=L.baseline_prediction("{task}", "{method}"),
    log:
        L.log("segment_mitonet", "{task}/{method}"),
    benchmark:
        L.benchmark("segment_mitonet", "{task}/{method}")
    wildcard_constraints:
        method=r"mitonet(-[A-Za-z0-9]+)?_\d+x",
    threads: BASE_RES["threads"]
    resources:
        gpu=1,
        mem_mb=BASE_RES["mem_mb"],
        runtime=BASE_RES["runtime"],
    conda:
        "../../envs/mitonet.yaml"
    script:
        "../scripts/segment_mitonet.py"


rule finetune_mitonet:
    input:
        train=L.raw_split("{task}", "train"),
        weights=lambda w: L.weights(weights_name("mitonet")),
    params:
        **job("finetune_mitonet.py", "baselines.mitonet.finetune", "train.amp", "seed", "demo"),
    output:
        model=L.mitonet_model("{set}", "{task}"),
        summary=L.mitonet_summary("{set}", "{task}"),
    log:
        L.log("finetune_mitonet", "{task}/{set}"),
    benchmark:
        L.benchmark("finetune_mitonet", "{task}/{set}")
    wildcard_constraints:
        set=r"[A-Za-z0-9]+",
    threads: BASE_RES["threads"]
    resources:
        gpu=1,
        mem_mb=BASE_RES["mem_mb"],
        runtime=BASE_RES["runtime"],
    conda:
        "../../envs/mitonet.yaml"
    script:
        "../scripts/finetune_mitonet.py"


rule segment_pixel_classifier:
    # the random-forest pixel classifier on the prepared splits the networks train, select and test on
    input:
        splits=lambda w: L.prepared(CFG.tasks[w.task].data_id(1), "train", "val", "test"),
        patches=lambda w: L.patch_index(CFG.tasks[w.task].data_id(1)),
    params:
        **job("segment_pixel_classifier.py", "baselines.pixel_classifier", "seed", "patches", "train.validation", "demo", tasks=task_of),
    output:
        json=L.baseline_metrics("{task}", "pixel_classifier"),
        npz=L.baseline_prediction("{task}", "pixel_classifier"),
    log:
        L.log("segment_pixel_classifier", "{task}/pixel_classifier"),
    benchmark:
        L.benchmark("segment_pixel_classifier", "{task}/pixel_classifier")
    threads: BASE_RES["threads"]
    resources:
        mem_mb=BASE_RES["mem_mb"],
        runtime=BASE_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/segment_pixel_classifier.py"


rule make_table3:
    input:
        unpack(lambda w: paper_results()),
        unpack(lambda w: {"long": L.table("table2_long.csv")} if baseline_rows.ours_rows(CFG.raw) else {}),
        metrics=[L.baseline_metrics(r.task, r.method) for r in baseline_rows.rows(CFG.raw)],
    params:
        **job("make_table3.py", "baselines", "experiment", "recommend.repeats", "demo"),
    output:
        csv=report(L.table("table3.csv"), caption="../report/table3.rst", category="Tables"),
        md=L.table("table3.md"),
    log:
        L.log("make_table3", "make_table3"),
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/make_table3.py"
