"""The default trained model, shipped inside the rnnexport package (see rnnexport.model_dir): this folder is
the repository's exported/, mapped to rnnexport.default_model by pyproject.toml. Data only."""
