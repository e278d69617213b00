# Raw sections -> prepared train/val/test volumes and patch index per task; Table 1.

PREP_RES = CFG.raw["resources"]["prepare"]


rule prepare_task:
    # {data}: a task id, or <task>/fold<k> for each fold of a task with folds (UroCell)
    input:
        unpack(task_dataset_inputs),
    params:
        **job("prepare_task.py", "patches", "seed", "train.sampling", "train.validation.size", tasks=task_of, datasets=dataset_of),
    output:
        L.prepared("{data}", "train", "val", "test"),
        patches=L.patch_index("{data}"),
    log:
        L.log("prepare_task", "{data}"),
    benchmark:
        L.benchmark("prepare_task", "{data}")
    threads: PREP_RES["threads"]
    resources:
        mem_mb=PREP_RES["mem_mb"],
        runtime=PREP_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/prepare_task.py"


rule plan_task:
    # the fingerprint of the prepared training split and the window, batch, ... derived from it
    input:
        L.prepared("{data}", "train"),
        patches=L.patch_index("{data}"),
    params:
        **job("plan_task.py", "recipe", "plan", "patches.size", "model.widths", "model.planar_levels", "train.batch_size",
              "train.sampling", "train.foreground_fraction", "train.validation", tasks=task_of, datasets=dataset_of),
    output:
        plan=L.plan("{data}"),
    log:
        L.log("plan_task", "{data}"),
    benchmark:
        L.benchmark("plan_task", "{data}")
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/plan_task.py"


TABLE1_TASKS = list(CFG.tasks)


rule make_table1:
    input:
        unpack(lambda w: paper_results()),
        patches=[L.patch_index(data) for task in CFG.tasks.values() for data in task.data_ids()],
    params:
        **job("make_table1.py", "demo", tasks=TABLE1_TASKS, datasets=sorted({t.dataset for t in CFG.tasks.values()})),
    output:
        csv=report(L.table("table1.csv"), caption="../report/table1.rst", category="Tables"),
        md=L.table("table1.md"),
    log:
        L.log("make_table1", "make_table1"),
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/make_table1.py"
