# Chunked Zarr predictions: test volumes of the models shown in Figs. 3-4, the Fig. 5 volume,
# and each recommend task's whole volume with its recommended model.

FIG_RUNS = grid.figure_runs(FIGS, EXP)
PREDICT_KEYS = ("patches.size", "evaluation", "train.amp", "figures.chunk")


rule predict_test:
    input:
        model=L.model("{model_id}"),
        test=eval_test,
    params:
        **job("predict_test.py", *PREDICT_KEYS),
    output:
        directory(L.test_prediction("{model_id}")),
    log:
        L.log("predict_test", "{model_id}"),
    benchmark:
        L.benchmark("predict_test", "{model_id}")
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
        "../scripts/predict_test.py"


# Whole volumes: the Fig. 5 volume ("fig5") and each recommend task's dataset volume.
rule prepare_volume:
    input:
        unpack(lambda w: dataset_inputs(volume_dataset(w.volume))),
    params:
        **job("prepare_volume.py", lambda w: "figures.fig5" if w.volume == "fig5" else None,
              tasks=lambda w: [] if w.volume == "fig5" else [w.volume], datasets=lambda w: [volume_dataset(w.volume)]),
    output:
        image=L.volume_image("{volume}"),
        info=L.volume_info("{volume}"),
    log:
        L.log("prepare_volume", "{volume}"),
    benchmark:
        L.benchmark("prepare_volume", "{volume}")
    wildcard_constraints:
        volume="|".join(VOLUMES) or "no-volumes-configured",
    threads: PREP_RES["threads"]
    resources:
        mem_mb=PREP_RES["mem_mb"],
        runtime=PREP_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/prepare_volume.py"


rule predict_volume:
    input:
        model=lambda w: L.model(fig5_run(w.organelle).model_id),
        image=L.volume_image("fig5"),
    params:
        **job("predict_volume.py", *PREDICT_KEYS),
    output:
        directory(L.volume_prediction("{organelle}")),
    log:
        L.log("predict_volume", "{organelle}"),
    benchmark:
        L.benchmark("predict_volume", "{organelle}")
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
        prediction=L.volume_prediction("{organelle}"),
        info=L.volume_info("fig5"),
    params:
        **job("mesh_volume.py"),
    output:
        L.volume_mesh("{organelle}"),
    log:
        L.log("mesh_volume", "{organelle}"),
    benchmark:
        L.benchmark("mesh_volume", "{organelle}")
    resources:
        mem_mb=EVAL_RES["mem_mb"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/mesh_volume.py"


rule predict_task:
    # the recommended model (chosen_model.json names it) over the task's whole dataset volume
    input:
        choice=L.recommend("{task}", "chosen_model.json"),
        models=lambda w: [L.model(run.model_id) for run in recommend_candidates(w.task)],
        image=L.volume_image("{task}"),
    params:
        **job("predict_task.py", *PREDICT_KEYS),
        model_ids=lambda w: [run.model_id for run in recommend_candidates(w.task)],
    output:
        directory(L.recommend("{task}", "prediction.zarr")),
    log:
        L.log("predict_task", "{task}"),
    benchmark:
        L.benchmark("predict_task", "{task}")
    wildcard_constraints:
        task="|".join(RECOMMEND) or "no-recommend-tasks",
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
        prediction=L.recommend("{task}", "prediction.zarr"),
        info=L.volume_info("{task}"),
    params:
        **job("mesh_task.py"),
    output:
        L.recommend("{task}", "prediction.ply"),
    log:
        L.log("mesh_task", "{task}"),
    benchmark:
        L.benchmark("mesh_task", "{task}")
    wildcard_constraints:
        task="|".join(RECOMMEND) or "no-recommend-tasks",
    resources:
        mem_mb=EVAL_RES["mem_mb"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/mesh_task.py"
