# Whole-test-volume evaluation of every trained model: one metrics JSON per model.

EVAL_RES = CFG.raw["resources"]["evaluate"]


rule evaluate_model:
    input:
        model=L.model("{model_id}"),
        test=eval_test,
    params:
        **job("evaluate_model.py", "patches.size", "evaluation", "train.amp", "train.channels_last", "train.cuda_channels_last", "demo",
              tasks=lambda w: [eval_target(w)]),
        target=eval_target,
    output:
        L.metrics("{model_id}"),
    log:
        L.log("evaluate_model", "{model_id}"),
    benchmark:
        L.benchmark("evaluate_model", "{model_id}")
    wildcard_constraints:
        model_id=MODEL_ID,
    threads: EVAL_RES["threads"]
    resources:
        gpu=1,
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/evaluate_model.py"
