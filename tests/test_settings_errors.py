"""Invalid settings: an error that names the setting, where it was read, and what is accepted."""

from __future__ import annotations

import pytest

import qiskit_aer_jobstore as qaj

from .conftest import ghz

# (environment variable, settings.conf key, bad value, what the error must list)
SETTINGS = [
    ("QISKIT_AER_SAVE_JOBS", "save_jobs", "maybe", "true, false"),
    ("QISKIT_AER_MAX_STORE_BYTES", "max_store_bytes", "lots", "GiB"),
    ("QISKIT_AER_MAX_STORE_BYTES", "max_store_bytes", "-5", "GiB"),
    ("QISKIT_AER_MAX_JOB_BYTES", "max_job_bytes", "12 parsecs", "MB"),
    ("QISKIT_AER_JOBS_DURABILITY", "durability", "fast", "full, normal"),
]


@pytest.fixture(autouse=True)
def restore_settings(job_store_env, monkeypatch):
    """Put good settings back before the shared fixture's teardown opens the store."""
    yield
    for env, *_ in SETTINGS:
        monkeypatch.delenv(env, raising=False)
    conf = job_store_env / "settings.conf"
    if conf.is_dir():
        conf.rmdir()
    elif conf.exists():
        conf.unlink()


def _use_it(name):
    if name == "QISKIT_AER_SAVE_JOBS":
        qaj.AerSimulator().run(ghz(2))
    else:
        qaj.JobStore()


@pytest.mark.parametrize("env,key,bad,accepted", SETTINGS)
def test_invalid_environment_variable(monkeypatch, env, key, bad, accepted):
    monkeypatch.setenv(env, bad)
    with pytest.raises(qaj.JobStoreSettingsError) as err:
        _use_it(env)
    assert env in str(err.value) and repr(bad) in str(err.value) and accepted in str(err.value)


@pytest.mark.parametrize("env,key,bad,accepted", SETTINGS)
def test_invalid_settings_conf_value(job_store_env, env, key, bad, accepted):
    conf = job_store_env / "settings.conf"
    conf.write_text(f"[aer]\n{key} = {bad}\n")
    with pytest.raises(qaj.JobStoreSettingsError) as err:
        _use_it(env)
    message = str(err.value)
    assert f"'{key}' in [aer] of {conf}" in message and accepted in message


@pytest.mark.parametrize(
    "damage",
    [
        lambda conf: conf.mkdir(),  # root reads any file: a folder cannot be read by anyone
        lambda conf: conf.write_bytes(b"[aer]\nsave_jobs = \xff\xfe\n"),
        lambda conf: conf.write_text("save_jobs = true\n"),  # no section header
    ],
    ids=["a folder", "not utf-8", "not ini"],
)
def test_unreadable_settings_conf(job_store_env, damage):
    conf = job_store_env / "settings.conf"
    damage(conf)
    with pytest.raises(
        qaj.JobStoreSettingsError, match=f"(?s)settings file {conf}.*QISKIT_SETTINGS"
    ):
        qaj.AerSimulator().run(ghz(2))


@pytest.mark.parametrize("where", ["run", "backend"])
def test_invalid_save_jobs_option(where):
    with pytest.raises(qaj.JobStoreError, match="save_jobs"):
        if where == "run":
            qaj.AerSimulator().run(ghz(2), save_jobs="maybe")
        else:
            qaj.AerSimulator(save_jobs="maybe")
