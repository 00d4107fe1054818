"""The pipeline layer: the params of every section, the preamble of the stage scripts, and what the download_models
stage does (download or train, save, reload, evaluate). The library below it knows nothing of DVC."""
