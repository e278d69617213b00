# OME-Zarr predictions: test volumes of the models shown in Figs. 3-4, the Fig. 5 volume, and
# each recommend task's whole volume with its recommended model. Rules declare a store by its
# root zarr.json (zarr_marker), so Snakemake puts no marker file inside it.

FIG_RUNS = grid.figure_runs(FIGS, EXP)
PREDICT_KEYS = ("patches.size", "evaluation", "train.amp", "prediction")


rule predict_test:
    input:
        model=L.model("{model_id}"),
        test=eval_test,
    params:
        **job("predict_test.py", *PREDICT_KEYS, tasks=lambda w: [eval_target(w)],
              datasets=lambda w: [CFG.tasks[eval_target(w)].dataset]),
    output:
        zarr_marker(L.test_prediction("{model_id}")),
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


rule predict_blocks:
    input:
        unpack(lambda w: prediction_models(w.key)),
        image=lambda w: L.volume_image(prediction_volume(w.key)),
    params:
        **job("predict_blocks.py", *PREDICT_KEYS),
        prediction=lambda w: prediction_params(w.key),
    output:
        temp(directory(L.prediction_blocks("{key}", "{job}"))),
    log:
        L.log("predict_blocks", "{key}.job{job}"),
    benchmark:
        L.benchmark("predict_blocks", "{key}.job{job}")
    wildcard_constraints:
        key="|".join(map(re.escape, PRED_STORES)) or "no-volume-predictions",
        job=r"\d+",
    threads: EVAL_RES["threads"]
    resources:
        gpu=1,
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/predict_blocks.py"


rule assemble_prediction:
    input:
        unpack(lambda w: prediction_models(STORE_KEYS[w.store])),
        blocks=lambda w: [L.prediction_blocks(STORE_KEYS[w.store], j) for j in range(PRED_JOBS)],
        image=lambda w: L.volume_image(prediction_volume(STORE_KEYS[w.store])),
        info=lambda w: L.volume_info(prediction_volume(STORE_KEYS[w.store])),
    params:
        **job("assemble_prediction.py", *PREDICT_KEYS),
        prediction=lambda w: prediction_params(STORE_KEYS[w.store]),
    output:
        zarr_marker("{store}"),
    log:
        L.log("assemble_prediction", "{store}"),
    benchmark:
        L.benchmark("assemble_prediction", "{store}")
    wildcard_constraints:
        store="|".join(map(re.escape, STORE_KEYS)) or "no-volume-predictions",
    resources:
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/assemble_prediction.py"


rule mesh_volume:
    input:
        prediction=zarr_marker(L.volume_prediction("{organelle}")),
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


rule mesh_task:
    input:
        prediction=zarr_marker(L.recommend("{task}", "prediction.zarr")),
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


rule measure_task:
    # numbers per organelle: one row per 3-D object of the prediction's mask, a summary and a size histogram
    input:
        prediction=zarr_marker(L.recommend("{task}", "prediction.zarr")),
    params:
        **job("measure_task.py"),
    output:
        table=L.recommend("{task}", "morphometrics.csv"),
        summary=L.recommend("{task}", "morphometrics.json"),
        plot=L.recommend("{task}", "size_distribution.png"),
    log:
        L.log("measure_task", "{task}"),
    benchmark:
        L.benchmark("measure_task", "{task}")
    wildcard_constraints:
        task="|".join(RECOMMEND) or "no-recommend-tasks",
    resources:
        mem_mb=EVAL_RES["mem_mb"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/measure_task.py"
