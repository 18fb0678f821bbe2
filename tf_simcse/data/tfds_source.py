"""Finding a prepared TFDS dataset by name, with errors that say what to do.

Reading needs no builder code: TFDS opens a prepared dataset from its directory (`dataset_info.json`, the
features, the splits) as a read-only builder. So `tf_simcse` never imports `tfds_builders` (shipped beside it):
`tfds_builders` imports `tf_simcse.data`'s readers to prepare its datasets, and the dependency goes that way only.
Datasets of TFDS's own catalogue work too. Data is read from `data_dir` (default: TFDS's own, `$TFDS_DATA_DIR`
or `~/tensorflow_datasets`); nothing is downloaded here — prepare a dataset first
(`python -m tfds_builders.prepare NAME --manual_dir DIR` works offline).
"""

import importlib.util
import os

from tf_simcse.errors import UserInputError


def _project_builder(name):
    """Whether `name` (`NAME[/CONFIG][:VERSION]`) is one of the `tfds_builders` shipped beside tf_simcse (looked up
    on disk: importing the package would register every builder, and make tf_simcse depend on it)."""
    spec = importlib.util.find_spec("tfds_builders")
    if spec is None or not spec.submodule_search_locations:
        return False
    base = name.split("/")[0].split(":")[0]
    return any(os.path.isdir(os.path.join(folder, base)) for folder in spec.submodule_search_locations)


def _not_prepared(what, name, where):
    """The error of a known dataset with no prepared data in `where`, saying how to prepare it."""
    if _project_builder(name):
        how = f"`python -m tfds_builders.prepare {name} --manual_dir DIR_WITH_THE_UPSTREAM_FILES`, or `--download` when online"
    else:
        how = f"tfds.builder({name!r}).download_and_prepare() when online"
    return f"{what}: TFDS dataset {name!r} is not prepared in {where}: prepare it first ({how}), or pass a local file instead"


def prepared_builder(name, *, what, data_dir=None):
    """Returns the prepared `tfds` builder of `name` (`NAME[/CONFIG][:VERSION]`); `what` names the caller's spec."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError(f"{what}: reading TFDS data needs `pip install tensorflow-datasets`") from None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        # Neither registered nor prepared in data_dir. TFDS's own message lists every dataset it knows (hundreds
        # of lines); say what matters instead.
        if _project_builder(name):
            raise UserInputError(_not_prepared(what, name, data_dir or "the default data_dir")) from None
        raise UserInputError(
            f"{what}: TFDS knows no dataset {name!r} (neither a registered builder nor prepared data in "
            f"{data_dir or 'the default data_dir'}); pass a local file instead"
        ) from None
    if not builder.is_prepared():
        raise UserInputError(_not_prepared(what, name, builder.data_dir))
    return builder
