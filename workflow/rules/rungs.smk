# The fast recommendation protocol (recommend.protocol: fast): successive halving as a static DAG.
# Every recommendation fine-tune runs as rungs 1..K of one schedule (recommend.rungs steps);
# rungs 1..K-1 are finetune_rung jobs, rung K is the run's finetune_model job. After each rung
# but the last, select_rung writes recommend/<task>/rung<k>.json (who trains on); a dropped
# candidate's later rungs copy its last model, marked, instead of training. Input functions: common.smk.


rule finetune_rung:
    input:
        lambda w: L.prepared(task_data(w.target, w.rep), "train", "val"),
        unpack(lambda w: rung_inputs(run_of(w), int(w.rung))),
        patches=lambda w: L.patch_index(task_data(w.target, w.rep)),
        plan=lambda w: L.plan(task_data(w.target, w.rep)),
        init=pretrained_model,
    params:
        **job("finetune_rung.py", *TRAIN_KEYS, "recommend.rungs", tasks=task_of),
    output:
        model=L.model("rungs/{source}__{target}/{budget}/rep{rep}/rung{rung}"),
        history=L.history("rungs/{source}__{target}/{budget}/rep{rep}/rung{rung}"),
        state=str(Path(L.model("rungs/{source}__{target}/{budget}/rep{rep}/rung{rung}")).parent / "state.pt"),
    log:
        L.log("finetune_rung", "{source}__{target}/{budget}/rep{rep}/rung{rung}"),
    benchmark:
        L.benchmark("finetune_rung", "{source}__{target}/{budget}/rep{rep}/rung{rung}")
    wildcard_constraints:
        rung=r"[1-9]\d*",
    threads: TRAIN_RES["threads"]
    resources:
        gpu=1,
        mem_mb=TRAIN_RES["mem_mb"],
        runtime=TRAIN_RES["runtime"],
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/finetune_rung.py"


rule select_rung:
    input:
        histories=lambda w: [L.history(rung_grid.rung_id(run, int(w.rung))) for run in grid.recommend_runs(EXP, w.task)],
        previous=lambda w: [L.recommend(w.task, rung_grid.survivors_name(int(w.rung) - 1))] if int(w.rung) > 1 else [],
    params:
        **job("select_rung.py", "recommend.rungs"),
    output:
        L.recommend("{task}", "rung{rung}.json"),
    log:
        L.log("select_rung", "{task}/rung{rung}"),
    wildcard_constraints:
        task="|".join(map(re.escape, RECOMMEND)) or "no-recommend-tasks",
        rung=r"[1-9]\d*",
    conda:
        "../../envs/vemtransfer.yaml"
    script:
        "../scripts/select_rung.py"
