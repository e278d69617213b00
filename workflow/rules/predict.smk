# Chunked Zarr predictions: test volumes of the models shown in Figs. 3-4, and the Fig. 5 volume.

FIGS = CFG.raw.get("figures", {})
FIG_RUNS = design.figure_runs(FIGS, EXP)


rule predict_test:
    input:
        model=f"{R}/models/{{model_id}}/model.pt",
        test=lambda w: prepared(eval_data(w), "test"),
    output:
        directory(f"{R}/predictions/{{model_id}}/test.zarr"),
    log:
        f"{LOGS}/predict_test/{{model_id}}.log",
    benchmark:
        f"{LOGS}/predict_test/{{model_id}}.benchmark.tsv"
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
        "../scripts/predict_test.py"


# Whole volumes: the Fig. 5 volume ("fig5") and each recommend task's source volume.
rule prepare_volume:
    input:
        lambda w: source_manifest(volume_source(w.volume)),
    output:
        image=f"{RES}/prepared/volumes/{{volume}}.image.npy",
        info=f"{RES}/prepared/volumes/{{volume}}.json",
    log:
        f"{LOGS}/prepare_volume/{{volume}}.log",
    benchmark:
        f"{LOGS}/prepare_volume/{{volume}}.benchmark.tsv"
    wildcard_constraints:
        volume="|".join(VOLUMES) or "no-volumes-configured",
    threads: CFG.raw["resources"]["prepare"]["threads"]
    resources:
        mem_mb=CFG.raw["resources"]["prepare"]["mem_mb"],
        runtime=CFG.raw["resources"]["prepare"]["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/prepare_volume.py"


rule predict_volume:
    input:
        model=lambda w: f"{R}/models/{fig5_run(w.organelle).model_id}/model.pt",
        image=f"{RES}/prepared/volumes/fig5.image.npy",
    output:
        directory(f"{R}/predictions/volume/{{organelle}}.zarr"),
    log:
        f"{LOGS}/predict_volume/{{organelle}}.log",
    benchmark:
        f"{LOGS}/predict_volume/{{organelle}}.benchmark.tsv"
    threads: EVAL_RES["threads"]
    resources:
        gpu=1,
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/predict_volume.py"


rule mesh_volume:
    input:
        prediction=f"{R}/predictions/volume/{{organelle}}.zarr",
        info=f"{RES}/prepared/volumes/fig5.json",
    output:
        f"{R}/meshes/{{organelle}}.ply",
    log:
        f"{LOGS}/mesh_volume/{{organelle}}.log",
    benchmark:
        f"{LOGS}/mesh_volume/{{organelle}}.benchmark.tsv"
    resources:
        mem_mb=EVAL_RES["mem_mb"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/mesh_volume.py"


rule predict_task:
    # the recommended model (chosen.json names it) over the task's whole source volume
    input:
        unpack(task_prediction_inputs),
    output:
        directory(f"{R}/{{task}}/prediction.zarr"),
    log:
        f"{LOGS}/predict_task/{{task}}.log",
    benchmark:
        f"{LOGS}/predict_task/{{task}}.benchmark.tsv"
    wildcard_constraints:
        task="|".join(CFG.raw["recommend"]["tasks"]) or "no-recommend-tasks",
    threads: EVAL_RES["threads"]
    resources:
        gpu=1,
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/predict_task.py"


rule mesh_task:
    input:
        prediction=f"{R}/{{task}}/prediction.zarr",
        info=f"{RES}/prepared/volumes/{{task}}.json",
    output:
        f"{R}/{{task}}/prediction.ply",
    log:
        f"{LOGS}/mesh_task/{{task}}.log",
    benchmark:
        f"{LOGS}/mesh_task/{{task}}.benchmark.tsv"
    wildcard_constraints:
        task="|".join(CFG.raw["recommend"]["tasks"]) or "no-recommend-tasks",
    resources:
        mem_mb=EVAL_RES["mem_mb"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/mesh_volume.py"
