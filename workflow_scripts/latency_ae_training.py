# Fig. 6, one optimizer schedule: AEs trained per base dataset, Δ rows at the checkpoint epochs.
from simex.base.artifacts import write_json
from simex.data.acquire import load_split
from simex.devices import claim_record
from simex.jobs import job_device, start_job
from simex.config import OptimizerSetting, SSIMWindow, derived_seed
from simex.experiments.latency import training_curve

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm, share=False)
section, entry = sm.params.training_time, sm.params.schedule
setting = OptimizerSetting.from_dict(entry)
loss = section["loss"]
train = {code: load_split(path)[0] for code, path in zip(section["base_datasets"], sm.input.train)}
test = {code: load_split(path)[0] for code, path in zip(sm.params.datasets, sm.input.test)}
runs = [training_curve(train, test, setting, section["checkpoints"], int(section["batch_size"]), loss,
                       SSIMWindow.from_dict(sm.params.ssim), derived_seed(sm.params.seed, "fig6", sm.wildcards.schedule, repeat),
                       device, int(sm.params.eval_batch_size))
        for repeat in range(int(section["repeats"]))]
write_json(sm.output.record, {
    "setting": entry, "panel": setting.panel or "", "loss": loss, "runs": runs, **claim_record(device),
    "samples_per_ae": {code: int(len(images)) for code, images in train.items()},
})
