"""utils/records.py: JSON records read back, the settings guard of a resumable workdir, package versions."""

import pytest

from autorecon_tf.errors import UserError
from autorecon_tf.utils.records import check_settings, package_versions, read_json


def test_a_missing_record_reads_as_empty_and_a_broken_one_is_named(tmp_path):
    assert read_json(str(tmp_path / "progress.json")) == {}
    broken = tmp_path / "run.json"
    broken.write_text("{not json")
    with pytest.raises(UserError, match=r"run\.json' is not valid JSON .*: delete it, or give a new --workdir"):
        read_json(str(broken))


def test_a_workdir_cannot_resume_a_run_with_other_settings(tmp_path):
    workdir = str(tmp_path)
    check_settings(workdir, {"method": "gdfq", "weight_bits": 4})
    check_settings(workdir, {"method": "gdfq", "weight_bits": 4})  # the same command resumes
    with pytest.raises(UserError, match="weight_bits"):
        check_settings(workdir, {"method": "gdfq", "weight_bits": 3})


def test_settings_compare_as_json_data_and_every_differing_key_is_named(tmp_path):
    workdir = str(tmp_path)
    check_settings(workdir, {"config": {"channels": (4, 4)}, "teacher": "a.keras", "seed": 0})
    check_settings(workdir, {"config": {"channels": [4, 4]}, "teacher": "a.keras", "seed": 0})  # a tuple is a list
    with pytest.raises(UserError) as error:
        check_settings(workdir, {"config": {"channels": [8, 8]}, "teacher": "b.keras", "seed": 0})
    assert "(config, teacher)" in str(error.value) and "\n" not in str(error.value)


def test_package_versions_name_the_libraries():
    assert {"python", "tensorflow", "tf_keras", "tensorflow_model_optimization", "numpy"} == set(package_versions())
