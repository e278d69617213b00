# Paper Table 3: SAM2.1 and MitoNet baselines on raw-resolution sections (config `baselines`).
# Rows come from vemtransfer.baselines.design; the heavy dependencies are the `baselines` extra.


rule download_weights:
    output:
        f"{RES}/weights/{{weights}}",
    params:
        model=lambda wildcards: WEIGHTS[wildcards.weights],
    log:
        f"{LOGS}/download_weights/{{weights}}.log",
    benchmark:
        f"{LOGS}/download_weights/{{weights}}.benchmark.tsv"
    wildcard_constraints:
        weights="|".join(map(re.escape, WEIGHTS)) or "no-weights-configured",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/download_weights.py"


rule prepare_raw_split:
    input:
        source_inputs,
    output:
        raw_split("{task}", "{split}"),
    log:
        f"{LOGS}/prepare_raw_split/{{task}}/{{split}}.log",
    benchmark:
        f"{LOGS}/prepare_raw_split/{{task}}/{{split}}.benchmark.tsv"
    wildcard_constraints:
        split="train|test",
    resources:
        mem_mb=CFG.raw["resources"]["prepare"]["mem_mb"],
        runtime=CFG.raw["resources"]["prepare"]["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/prepare_raw_split.py"


rule sam2_segment:
    input:
        raw_split("{task}", "test"),
        weights=lambda wildcards: weights_path("sam2"),
    output:
        json=f"{R}/baselines/{{task}}/sam2_{{mode}}.json",
        npz=f"{R}/baselines/{{task}}/sam2_{{mode}}.npz",
    log:
        f"{LOGS}/sam2_segment/{{task}}/{{mode}}.log",
    benchmark:
        f"{LOGS}/sam2_segment/{{task}}/{{mode}}.benchmark.tsv"
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
        "../scripts/sam2_segment.py"


rule mitonet_zero_shot:
    input:
        raw_split("{task}", "test"),
        model=lambda wildcards: weights_path("mitonet"),
    output:
        json=f"{R}/baselines/{{task}}/mitonet_{{scale}}x.json",
        npz=f"{R}/baselines/{{task}}/mitonet_{{scale}}x.npz",
    params:
        method=lambda wildcards: f"mitonet_{wildcards.scale}x",
    log:
        f"{LOGS}/mitonet_segment/{{task}}/mitonet_{{scale}}x.log",
    benchmark:
        f"{LOGS}/mitonet_segment/{{task}}/mitonet_{{scale}}x.benchmark.tsv"
    wildcard_constraints:
        scale=r"\d+",
    threads: BASE_RES["threads"]
    resources:
        gpu=1,
        mem_mb=BASE_RES["mem_mb"],
        runtime=BASE_RES["runtime"],
    conda:
        "../../envs/mitonet.yaml"
    script:
        "../scripts/mitonet_segment.py"


rule mitonet_finetune:
    input:
        raw_split("{task}", "train"),
        weights=lambda wildcards: weights_path("mitonet"),
    output:
        model=f"{R}/models/baselines/mitonet-{{set}}/{{task}}.pth",
        summary=f"{R}/models/baselines/mitonet-{{set}}/{{task}}.json",
    log:
        f"{LOGS}/mitonet_finetune/{{task}}/{{set}}.log",
    benchmark:
        f"{LOGS}/mitonet_finetune/{{task}}/{{set}}.benchmark.tsv"
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
        "../scripts/mitonet_finetune.py"


rule mitonet_finetuned:
    input:
        raw_split("{task}", "test"),
        model=f"{R}/models/baselines/mitonet-{{set}}/{{task}}.pth",
    output:
        json=f"{R}/baselines/{{task}}/mitonet-{{set}}_{{scale}}x.json",
        npz=f"{R}/baselines/{{task}}/mitonet-{{set}}_{{scale}}x.npz",
    params:
        method=lambda wildcards: f"mitonet-{wildcards.set}_{wildcards.scale}x",
    log:
        f"{LOGS}/mitonet_segment/{{task}}/mitonet-{{set}}_{{scale}}x.log",
    benchmark:
        f"{LOGS}/mitonet_segment/{{task}}/mitonet-{{set}}_{{scale}}x.benchmark.tsv"
    wildcard_constraints:
        set=r"[A-Za-z0-9]+",
        scale=r"\d+",
    threads: BASE_RES["threads"]
    resources:
        gpu=1,
        mem_mb=BASE_RES["mem_mb"],
        runtime=BASE_RES["runtime"],
    conda:
        "../../envs/mitonet.yaml"
    script:
        "../scripts/mitonet_segment.py"


rule make_table3:
    input:
        unpack(table3_inputs),
    output:
        csv=report(f"{R}/tables/table3.csv", caption="../report/table3.rst", category="Tables"),
        md=f"{R}/tables/table3.md",
    log:
        f"{LOGS}/make_table3/make_table3.log",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/make_table3.py"
