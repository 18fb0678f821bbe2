"""Finding a prepared TFDS dataset by name, with errors that say what to do.

Importing `tfds_builders` (shipped beside `tf_simcse`) registers this project's builders (kornli_triplets,
korsts, ...); datasets of TFDS's own catalogue work too. Data is read from `data_dir` (default: TFDS's own,
`$TFDS_DATA_DIR` or `~/tensorflow_datasets`); nothing is downloaded here — prepare a dataset first
(`python -m tfds_builders.prepare NAME --manual_dir DIR` works offline).
"""

from tf_simcse.errors import UserInputError


def prepared_builder(name, *, what, data_dir=None):
    """Returns the prepared `tfds` builder of `name` (`NAME[/CONFIG][:VERSION]`); `what` names the caller's spec."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError(f"{what}: reading TFDS data needs `pip install tensorflow-datasets`") from None
    try:
        import tfds_builders  # noqa: F401  (registers the project's builders)
    except ImportError:
        pass
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        # TFDS's own message lists every dataset it knows (hundreds of lines); say what matters instead.
        raise UserInputError(
            f"{what}: TFDS knows no dataset {name!r} (neither a registered builder nor prepared data in "
            f"{data_dir or 'the default data_dir'}); pass a local file instead"
        ) from None
    if not builder.is_prepared():
        raise UserInputError(
            f"{what}: TFDS dataset {name!r} is not prepared in {builder.data_dir}: prepare it first "
            f"(`python -m tfds_builders.prepare {name} --manual_dir DIR_WITH_THE_UPSTREAM_FILES`, or "
            f"tfds.builder({name!r}).download_and_prepare() when online), or pass a local file instead"
        )
    return builder
