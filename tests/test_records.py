"""utils/records.py: JSON records read back, the settings guard of a resumable workdir, its creation, package versions."""

import os

import pytest

from autorecon_tf.errors import UserError
from autorecon_tf.utils.records import check_settings, package_versions, read_json, workdir


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


def test_a_workdir_that_cannot_be_created_is_named_in_one_line():
    with pytest.raises(UserError, match=r"--workdir '/proc/autorecon/run' cannot be written \(.*\): give a directory"):
        with workdir("/proc/autorecon/run"):
            pass


def test_a_failed_start_leaves_no_new_workdir_and_a_later_failure_keeps_what_can_resume(tmp_path):
    fresh = str(tmp_path / "fresh")
    with pytest.raises(UserError, match="genotype"):
        with workdir(fresh):
            check_settings(fresh, {"method": "searched"})  # run.json written, then the genotype fails to load
            raise UserError("genotype file 'g.json' is not valid JSON")
    assert not os.path.exists(fresh)
    started = str(tmp_path / "started")
    with pytest.raises(UserError):
        with workdir(started):
            check_settings(started, {"method": "gdfq"})
            open(os.path.join(started, "progress.json"), "w").close()  # an epoch began
            raise UserError("eval data")
    assert sorted(os.listdir(started)) == ["progress.json", "run.json"]
    (tmp_path / "existing").mkdir()
    with pytest.raises(UserError):
        with workdir(str(tmp_path / "existing")):
            raise UserError("settings differ")
    assert os.path.isdir(tmp_path / "existing")  # the user's directory stays
