# Pretraining on source tasks and fine-tuning on targets (NoPretrain = from random weights).

TRAIN_RES = CFG.raw["resources"]["train"]
IMPORTED = list(CFG.raw["pretrained"])  # source tasks whose models are imported, not trained


rule pretrain_model:
    input:
        lambda w: prepared(task_data(w.task, w.rep), "train", "val"),
        patches=lambda w: patch_index(task_data(w.task, w.rep)),
    output:
        model=f"{R}/models/pretrain/{{task}}/rep{{rep}}/model.pt",
        history=f"{R}/models/pretrain/{{task}}/rep{{rep}}/history.json",
    log:
        f"{LOGS}/pretrain_model/{{task}}/rep{{rep}}.log",
    benchmark:
        f"{LOGS}/pretrain_model/{{task}}/rep{{rep}}.benchmark.tsv"
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
    output:
        model=f"{R}/models/pretrain/{{task}}/rep{{rep}}/model.pt",
    log:
        f"{LOGS}/import_pretrained/{{task}}/rep{{rep}}.log",
    wildcard_constraints:
        task="|".join(map(re.escape, IMPORTED)) or "no-imported-models",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/import_pretrained.py"


rule finetune_model:
    input:
        lambda w: prepared(task_data(w.target, w.rep), "train", "val"),
        patches=lambda w: patch_index(task_data(w.target, w.rep)),
        init=pretrained_model,
    output:
        model=f"{R}/models/finetune/{{source}}__{{target}}/{{budget}}/rep{{rep}}/model.pt",
        history=f"{R}/models/finetune/{{source}}__{{target}}/{{budget}}/rep{{rep}}/history.json",
    log:
        f"{LOGS}/finetune_model/{{source}}__{{target}}/{{budget}}/rep{{rep}}.log",
    benchmark:
        f"{LOGS}/finetune_model/{{source}}__{{target}}/{{budget}}/rep{{rep}}.benchmark.tsv"
    threads: TRAIN_RES["threads"]
    resources:
        gpu=1,
        mem_mb=TRAIN_RES["mem_mb"],
        runtime=TRAIN_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/finetune_model.py"
