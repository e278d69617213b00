# Whole-test-volume evaluation of every trained model: one metrics JSON per model.

EVAL_RES = CFG.raw["resources"]["evaluate"]


rule evaluate_model:
    input:
        model=f"{R}/models/{{model_id}}/model.pt",
        test=lambda w: prepared(eval_data(w), "test"),
    output:
        f"{R}/metrics/{{model_id}}.json",
    log:
        f"{LOGS}/evaluate_model/{{model_id}}.log",
    benchmark:
        f"{LOGS}/evaluate_model/{{model_id}}.benchmark.tsv"
    wildcard_constraints:
        model_id=MODEL_ID,
    params:
        target=eval_target,
    threads: EVAL_RES["threads"]
    resources:
        gpu=1,
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/evaluate_model.py"
