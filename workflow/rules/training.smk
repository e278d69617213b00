# Pretraining on source tasks and fine-tuning on targets (NoPretrain = from random weights).

TRAIN_RES = CFG.raw["resources"]["train"]
IMPORTED = list(CFG.raw["pretrained"])  # source tasks whose models are imported, not trained
TRAIN_KEYS = ("patches.size", "train", "model", "evaluation", "seed", "demo")


rule pretrain_model:
    input:
        lambda w: L.prepared(task_data(w.task, w.rep), "train", "val"),
        patches=lambda w: L.patch_index(task_data(w.task, w.rep)),
        plan=lambda w: L.plan(task_data(w.task, w.rep)),
    params:
        **job("pretrain_model.py", *TRAIN_KEYS, tasks=task_of),
    output:
        model=L.model("pretrain/{task}/rep{rep}"),
        history=L.history("pretrain/{task}/rep{rep}"),
    log:
        L.log("pretrain_model", "{task}/rep{rep}"),
    benchmark:
        L.benchmark("pretrain_model", "{task}/rep{rep}")
    wildcard_constraints:
        task="|".join(re.escape(t) for t in CFG.tasks if t not in IMPORTED),
    threads: TRAIN_RES["threads"]
    resources:
        gpu=1,
        mem_mb=TRAIN_RES["mem_mb"],
        runtime=TRAIN_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/pretrain_model.py"


rule import_pretrained:
    params:
        **job("import_pretrained.py", "model", lambda w: f"pretrained.{w.task}"),
    output:
        model=L.model("pretrain/{task}/rep{rep}"),
    log:
        L.log("import_pretrained", "{task}/rep{rep}"),
    benchmark:
        L.benchmark("import_pretrained", "{task}/rep{rep}")
    wildcard_constraints:
        task="|".join(map(re.escape, IMPORTED)) or "no-imported-models",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/import_pretrained.py"


rule finetune_model:
    input:
        lambda w: L.prepared(task_data(w.target, w.rep), "train", "val"),
        unpack(last_rung_inputs),  # fast protocol: the previous rung and its survivors (rungs.smk)
        patches=lambda w: L.patch_index(task_data(w.target, w.rep)),
        plan=lambda w: L.plan(task_data(w.target, w.rep)),
        init=pretrained_model,
    params:
        **job("finetune_model.py", *TRAIN_KEYS, rung_key, tasks=task_of),
    output:
        model=L.model("finetune/{source}__{target}/{budget}/rep{rep}"),
        history=L.history("finetune/{source}__{target}/{budget}/rep{rep}"),
    log:
        L.log("finetune_model", "{source}__{target}/{budget}/rep{rep}"),
    benchmark:
        L.benchmark("finetune_model", "{source}__{target}/{budget}/rep{rep}")
    threads: TRAIN_RES["threads"]
    resources:
        gpu=1,
        mem_mb=TRAIN_RES["mem_mb"],
        runtime=TRAIN_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/finetune_model.py"
