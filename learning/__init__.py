"""The learning loop: what people do with suggestions teaches their workspace's own model.

    outcomes.py, labelling.py   what became of each decided suggestion, read from the text
    dataset.py                  outcomes -> chat SFT and preference JSONL, split and checked
    pipeline.py                 one (workspace, day) run: dataset, trainer, gate, promotion
    trainers/                   the trainer port; local.py (TRL + PEFT LoRA, in a child
                                process: train_step.py) and openai_jobs.py (an OpenAI-shaped
                                fine-tuning API)
    models.py                   the base model and tokenizer, with the base's id and revision
    artifacts.py                where a run's adapter, checkpoints and manifest are stored
    serving/                    ``tandem model serve``: chat completions over base + adapters
    evaluation.py               the gate's scores, through the assistant's serving path
    registry.py, store.py       which model each workspace uses; runs, models, outcomes
    shards.py, progress.py      the Indexed Job's shards; what a person watches while it trains

It imports the assistant's public records and suggestion layout (to label outcomes) and the
drive's storage helpers, nothing else of ours; torch and its libraries only where a model is
loaded (the ``train`` extra)."""
