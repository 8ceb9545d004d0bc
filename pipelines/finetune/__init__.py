"""Fine-tuning: from a file of examples to a better model that the app's pickers offer.

What a person (the Fine-tune tab, a notebook, the command line) meets, in order:

    data.preview(path, tasks.get(name))  first rows and the columns guessed for the task's roles
    config.FinetuneConfig(...)            the run's settings; presets.preset_configs(name) for an example
    launch.start_run(config)              validated, then trained in its own process (accelerate launch)
    status.overview(run)                  progress, scores so far, the result; reattach with runs.list_runs()
    launch.request_stop(run), launch.resume_run(run), runs.export_zip(run)

The machinery (config, data, runs, launch, run_queue, train, log, status, registry, card, presets) is
blind to what is learned; each task (tasks/: classification, extractive QA, masked LM) says how
its rows are checked, encoded, modelled and scored. metrics/ holds the local `evaluate` modules.
"""
