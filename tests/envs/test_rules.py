"""Each discovery rule against the on-disk layouts its tool documents, and the rule order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envs.layout import conda_at, context, folder, resolver, venv_at, write
from typemux.envs.conda import conda, pyenv_virtualenv, yaml_top_level, yaml_top_level_list
from typemux.envs.hatch import hatch, hatch_project_id
from typemux.envs.local import glob_regex, in_project, pdm_python, pyright_settings
from typemux.envs.model import loads_jsonc
from typemux.envs.pipenv import pipenv, pipenv_env_name
from typemux.envs.poetry import poetry, poetry_env_name


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return Path(os.path.realpath(tmp_path))


@pytest.fixture
def home(tmp: Path) -> Path:
    (tmp / "home").mkdir()
    return tmp / "home"


@pytest.fixture
def repo(tmp: Path) -> Path:
    (tmp / "repo" / ".git").mkdir(parents=True)
    return tmp / "repo"


# ----- names computed exactly as the tools compute them (their own code is installed) -----
@pytest.mark.parametrize("name", ["app", "My App", "we!rd$name*", "x" * 60, "UPPER_case"])
def test_poetry_env_name_matches_poetrys_own(tmp: Path, name: str) -> None:
    from poetry.utils.env import EnvManager

    assert poetry_env_name(name, str(tmp)) == EnvManager.generate_env_name(name, str(tmp))


@pytest.mark.parametrize("name", ["app", "my app (copy)", "a[1]&b", "y" * 60])
def test_pipenv_env_name_matches_pipenvs_own(tmp: Path, name: str) -> None:
    from pipenv.utils.venv_locator import VenvLocator

    pipfile = str(tmp / name / "Pipfile")
    sanitized = VenvLocator._sanitize(name)
    computed = pipenv_env_name(pipfile)
    # the hash is checked against pipenv itself by the real-tools monorepo (pipenv --venv)
    assert computed.startswith(sanitized + "-") and len(computed) == len(sanitized) + 9


def test_hatch_project_id_matches_hatchs_own(tmp: Path) -> None:
    from hatch.utils.fs import Path as HatchPath

    assert hatch_project_id(str(tmp / "p")) == HatchPath(str(tmp / "p")).id


# ----- typemux's mapping -------------------------------------------------------------------
@pytest.mark.parametrize(("glob", "path", "matches"), [
    ("/m/services/*", "/m/services/api", True),
    ("/m/services/*", "/m/services/api/src", False),
    ("/m/**/api", "/m/a/b/api", True),
    ("/m/**/api", "/m/api", True),
    ("services/api", "/x/y/services/api", True),
    ("services/api", "/x/y/services/api2", False),
    ("/m/p?", "/m/p1", True),
])
def test_mapping_globs_match_project_folders(glob: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(glob).match(path)) is matches


def test_mapping_wins_over_dot_venv_and_takes_home_and_relative_paths(home: Path, repo: Path) -> None:
    venv_at(repo / "api" / ".venv")
    mapped = venv_at(home / "envs" / "api")
    local = venv_at(repo / "web" / "env-here")
    (repo / "web").mkdir(exist_ok=True)
    r = resolver(home, {"**/api": "~/envs/api", str(repo / "web"): "env-here"})
    found = r.find(repo / "api" / "x.py")
    assert found is not None and (found.path, found.project, found.rule) == (mapped, repo / "api", "config")
    found = r.find(repo / "web" / "x.py")
    assert found is not None and found.path == local and found.rule == "config"


def test_mapping_to_a_missing_environment_stops_the_walk(home: Path, repo: Path) -> None:
    venv_at(repo / ".venv")  # would otherwise serve repo/api
    (repo / "api").mkdir()
    r = resolver(home, {"**/api": "~/envs/missing"})
    assert r.find(repo / "api" / "x.py") is None
    report = r.explain(repo / "api")
    assert "missing" in report[0].seen[0].verdict.saw  # type: ignore[union-attr]


# ----- pyright -----------------------------------------------------------------------------
def test_pyrightconfig_jsonc_venv_path_relative_to_the_config(home: Path, repo: Path) -> None:
    env = venv_at(repo / "envs" / "one")
    write(repo / "p" / "pyrightconfig.json",
          '{\n // comment\n "venvPath": "../envs", /* c */ "venv": "one",\n}\n')
    venv_at(repo / "p" / ".venv")  # pyright's setting comes first
    found = resolver(home).find(repo / "p" / "x.py")
    assert found is not None and (found.path, found.rule, found.project) == (env, "pyright", repo / "p")


def test_pyproject_tool_pyright_venv_without_venv_path_is_in_the_project(home: Path, repo: Path) -> None:
    env = venv_at(repo / "p" / "myenv")
    write(repo / "p" / "pyproject.toml", '[tool.pyright]\nvenv = "myenv"\n')
    ctx = context(home)
    verdict = pyright_settings(folder(repo / "p", ctx), ctx)
    assert verdict is not None and verdict.env == str(env)


def test_pyrightconfig_json_hides_pyproject_settings(home: Path, repo: Path) -> None:
    venv_at(repo / "p" / "a")
    write(repo / "p" / "pyproject.toml", '[tool.pyright]\nvenv = "a"\n')
    write(repo / "p" / "pyrightconfig.json", '{"typeCheckingMode": "strict"}')
    ctx = context(home)
    verdict = pyright_settings(folder(repo / "p", ctx), ctx)
    assert verdict is not None and verdict.env is None and "sets no venv" in verdict.saw


def test_jsonc_keeps_slashes_inside_strings() -> None:
    assert loads_jsonc('{"a": "http://x/*y*/", // c\n "b": [1,],}') == {"a": "http://x/*y*/", "b": [1]}


# ----- in-project folders -------------------------------------------------------------------
def test_other_in_project_folder_found_only_in_a_project(home: Path, repo: Path) -> None:
    env = venv_at(repo / "p" / "venv")
    venv_at(repo / "plain" / "venv")
    ctx = context(home)
    assert in_project(folder(repo / "p", ctx), ctx) is None  # no project marker yet
    write(repo / "p" / "setup.py", "")
    verdict = in_project(folder(repo / "p", ctx), ctx)
    assert verdict is not None and verdict.env == str(env)
    assert resolver(home).find(repo / "plain" / "x.py") is None


def test_in_project_ignores_the_home_folder(home: Path) -> None:
    venv_at(home / "someenv")
    write(home / "requirements.txt", "")
    ctx = context(home)
    assert in_project(folder(home, ctx), ctx) is None


def test_dot_venv_comes_before_other_folders(home: Path, repo: Path) -> None:
    dot = venv_at(repo / "p" / ".venv")
    venv_at(repo / "p" / "venv")
    write(repo / "p" / "pyproject.toml", "")
    found = resolver(home).find(repo / "p" / "x.py")
    assert found is not None and found.path == dot and found.rule == ".venv"


# ----- uv ------------------------------------------------------------------------------------
def test_uv_relative_environment_is_found_at_the_workspace_root(home: Path, repo: Path) -> None:
    env = venv_at(repo.parent / "uv-envs" / "ws")  # relative, and outside the project
    write(repo / "pyproject.toml", '[project]\nname = "root"\n[tool.uv.workspace]\nmembers = ["m"]\n')
    write(repo / "uv.lock", "")
    write(repo / "m" / "pyproject.toml", '[project]\nname = "m"\n[tool.uv.sources]\n')
    found = resolver(home, UV_PROJECT_ENVIRONMENT="../uv-envs/ws").find(repo / "m" / "x.py")
    assert found is not None and (found.path, found.rule, found.project) == (env, "uv", repo)


def test_uv_absolute_environment_serves_uv_projects_only(home: Path, repo: Path) -> None:
    env = venv_at(home / "uvenv")
    write(repo / "u" / "pyproject.toml", '[project]\nname = "u"\n')
    write(repo / "u" / "uv.lock", "")
    write(repo / "p" / "pyproject.toml", '[project]\nname = "p"\n[tool.poetry]\n')
    r = resolver(home, UV_PROJECT_ENVIRONMENT=str(env))
    found = r.find(repo / "u" / "x.py")
    assert found is not None and found.path == env
    assert r.find(repo / "p" / "x.py") is None


# ----- PDM ----------------------------------------------------------------------------------
def test_pdm_python_names_the_environment_of_its_interpreter(home: Path, repo: Path) -> None:
    env = venv_at(home / ".local" / "share" / "pdm" / "venvs" / "p-abc-3.11")
    write(repo / "p" / ".pdm-python", f"{env}/bin/python\n")
    ctx = context(home)
    verdict = pdm_python(folder(repo / "p", ctx), ctx)
    assert verdict is not None and verdict.env == str(env)
    write(repo / "p" / ".pdm-python", "/usr/bin/python3\n")
    verdict = pdm_python(folder(repo / "p", ctx), ctx)
    assert verdict is not None and verdict.env is None


# ----- Poetry -------------------------------------------------------------------------------
def _poetry_project(repo: Path, name: str = "App") -> Path:
    write(repo / "p" / "pyproject.toml", f'[tool.poetry]\nname = "{name}"\n')
    return repo / "p"


def test_poetry_default_cache_dir_and_newest_python(home: Path, repo: Path) -> None:
    project = _poetry_project(repo)
    base = poetry_env_name("app", str(project))
    venvs = home / ".cache" / "pypoetry" / "virtualenvs"
    venv_at(venvs / f"{base}-py3.9")
    newest = venv_at(venvs / f"{base}-py3.12")
    venv_at(venvs / f"{poetry_env_name('other', str(project))}-py3.13")
    ctx = context(home)
    assert poetry(folder(project, ctx), ctx).env == str(newest)  # type: ignore[union-attr]


def test_poetry_envs_toml_chooses_the_python(home: Path, repo: Path) -> None:
    project = _poetry_project(repo)
    base = poetry_env_name("app", str(project))
    venvs = home / ".cache" / "pypoetry" / "virtualenvs"
    chosen = venv_at(venvs / f"{base}-py3.9")
    venv_at(venvs / f"{base}-py3.12")
    write(venvs / "envs.toml", f'[{base}]\nminor = "3.9"\npatch = "3.9.1"\n')
    ctx = context(home)
    assert poetry(folder(project, ctx), ctx).env == str(chosen)  # type: ignore[union-attr]


@pytest.mark.parametrize("how", ["env-path", "env-cache", "xdg-cache", "config", "local", "config-dir"])
def test_poetry_virtualenvs_path_is_found_where_poetry_looks(home: Path, repo: Path, tmp: Path,
                                                             how: str) -> None:
    project = _poetry_project(repo)
    environ: dict[str, str] = {}
    if how == "env-path":
        environ["POETRY_VIRTUALENVS_PATH"] = str(tmp / "venvs")
    elif how == "env-cache":
        environ["POETRY_CACHE_DIR"] = str(tmp / "cache")
    elif how == "xdg-cache":
        environ["XDG_CACHE_HOME"] = str(tmp / "xdg")
    elif how == "config":
        write(home / ".config" / "pypoetry" / "config.toml",
              f'cache-dir = "{tmp}/cache"\n[virtualenvs]\npath = "{{cache-dir}}/mine"\n')
    elif how == "local":
        write(home / ".config" / "pypoetry" / "config.toml", '[virtualenvs]\npath = "/nowhere"\n')
        write(project / "poetry.toml", f'[virtualenvs]\npath = "{tmp}/venvs"\n')
    else:
        environ["POETRY_CONFIG_DIR"] = str(tmp / "pc")
        write(tmp / "pc" / "config.toml", '[virtualenvs]\npath = "~/elsewhere"\n')
    where = {"env-path": tmp / "venvs", "env-cache": tmp / "cache" / "virtualenvs",
             "xdg-cache": tmp / "xdg" / "pypoetry" / "virtualenvs",
             "config": tmp / "cache" / "mine", "local": tmp / "venvs",
             "config-dir": home / "elsewhere"}[how]
    env = venv_at(where / f"{poetry_env_name('app', str(project))}-py3.11")
    found = resolver(home, **environ).find(project / "x.py")
    assert found is not None and found.path == env and found.rule == "poetry"


def test_poetry_in_project_setting_defers_to_dot_venv(home: Path, repo: Path) -> None:
    project = _poetry_project(repo)
    ctx = context(home, POETRY_VIRTUALENVS_IN_PROJECT="true")
    verdict = poetry(folder(project, ctx), ctx)
    assert verdict is not None and verdict.env is None and ".venv" in verdict.saw


# ----- Hatch ---------------------------------------------------------------------------------
def test_hatch_default_env_and_data_dir_variable(home: Path, repo: Path, tmp: Path) -> None:
    write(repo / "p" / "pyproject.toml", '[project]\nname = "My.Proj"\n')
    project_id = hatch_project_id(str(repo / "p"))
    env = venv_at(tmp / "hd" / "env" / "virtual" / "my-proj" / project_id / "my-proj")
    found = resolver(home, HATCH_DATA_DIR=str(tmp / "hd")).find(repo / "p" / "x.py")
    assert found is not None and found.path == env and found.rule == "hatch"


def test_hatch_config_env_dir_inside_the_project_is_flat(home: Path, repo: Path) -> None:
    write(repo / "p" / "pyproject.toml", '[project]\nname = "proj"\n')
    write(home / ".config" / "hatch" / "config.toml", '[dirs.env]\nvirtual = ".hatch"\n')
    env = venv_at(repo / "p" / ".hatch" / "proj")
    ctx = context(home)
    assert hatch(folder(repo / "p", ctx), ctx).env == str(env)  # type: ignore[union-attr]


def test_hatch_explicit_path_in_hatch_toml(home: Path, repo: Path) -> None:
    write(repo / "p" / "pyproject.toml", '[project]\nname = "proj"\n')
    write(repo / "p" / "hatch.toml", '[envs.default]\npath = "../shared-env"\n')
    env = venv_at(repo / "shared-env")
    ctx = context(home)
    assert hatch(folder(repo / "p", ctx), ctx).env == str(env)  # type: ignore[union-attr]


# ----- Pipenv --------------------------------------------------------------------------------
def test_pipenv_workon_home_and_custom_name(home: Path, repo: Path, tmp: Path) -> None:
    write(repo / "p" / "Pipfile", "")
    default = venv_at(home / ".local" / "share" / "virtualenvs" /
                      pipenv_env_name(str(repo / "p" / "Pipfile")))
    found = resolver(home).find(repo / "p" / "x.py")
    assert found is not None and found.path == default and found.rule == "pipenv"
    custom = venv_at(tmp / "wh" / "custom")
    found = resolver(home, WORKON_HOME=str(tmp / "wh"), PIPENV_CUSTOM_VENV_NAME="custom").find(
        repo / "p" / "y.py")
    assert found is not None and found.path == custom


def test_pipenv_dot_venv_file_names_the_environment(home: Path, repo: Path) -> None:
    write(repo / "p" / "Pipfile", "")
    named = venv_at(home / ".local" / "share" / "virtualenvs" / "named")
    write(repo / "p" / ".venv", "named\n")
    ctx = context(home)
    assert pipenv(folder(repo / "p", ctx), ctx).env == str(named)  # type: ignore[union-attr]
    relative = venv_at(repo / "envs" / "pp")
    write(repo / "p" / ".venv", "../envs/pp\n")
    assert pipenv(folder(repo / "p", ctx), ctx).env == str(relative)  # type: ignore[union-attr]


# ----- conda ---------------------------------------------------------------------------------
def test_yaml_subset_reads_names_and_lists() -> None:
    text = "name: 'my-env'  # c\nchannels:\n  - a\nenvs_dirs:\n  - ~/x\n  # c\n  - /y\nother: 1\n"
    assert yaml_top_level(text, "name") == "my-env"
    assert yaml_top_level_list(text, "envs_dirs") == ["~/x", "/y"]
    assert yaml_top_level_list("envs_dirs: [/a, '/b']\n", "envs_dirs") == ["/a", "/b"]


def _conda_project(repo: Path, name: str = "ds") -> Path:
    write(repo / "p" / "environment.yml", f"name: {name}\ndependencies:\n  - python\n")
    return repo / "p"


def test_conda_condarc_envs_dirs_come_before_install_roots(home: Path, repo: Path, tmp: Path) -> None:
    project = _conda_project(repo)
    conda_at(home / "miniforge3" / "envs" / "ds")
    chosen = conda_at(tmp / "mine" / "ds")
    write(home / ".condarc", f"envs_dirs:\n  - {tmp}/mine\n")
    found = resolver(home).find(project / "x.py")
    assert found is not None and found.path == chosen and found.rule == "conda"


@pytest.mark.parametrize("how", ["install-root", "conda-prefix", "conda-exe", "registry",
                                 "envs-path", "dot-conda"])
def test_conda_name_lookup(home: Path, repo: Path, tmp: Path, how: str) -> None:
    project = _conda_project(repo)
    environ: dict[str, str] = {}
    if how == "install-root":
        env = conda_at(home / "miniconda3" / "envs" / "ds")
    elif how == "conda-prefix":
        env = conda_at(tmp / "c" / "envs" / "ds")
        environ["CONDA_PREFIX"] = str(conda_at(tmp / "c" / "envs" / "other"))
    elif how == "conda-exe":
        env = conda_at(tmp / "c" / "envs" / "ds")
        environ["CONDA_EXE"] = str(tmp / "c" / "bin" / "conda")
    elif how == "registry":
        env = conda_at(tmp / "anywhere" / "ds")
        write(home / ".conda" / "environments.txt", f"/gone/ds\n{env}\n")
    elif how == "envs-path":
        env = conda_at(tmp / "ep" / "ds")
        environ["CONDA_ENVS_PATH"] = f"/nowhere:{tmp}/ep"
    else:
        env = conda_at(home / ".conda" / "envs" / "ds")
    ctx = context(home, **environ)
    verdict = conda(folder(project, ctx), ctx)
    assert verdict is not None and verdict.env == str(env), verdict


def test_conda_unknown_name_says_where_it_looked(home: Path, repo: Path) -> None:
    project = _conda_project(repo, "nope")
    ctx = context(home)
    verdict = conda(folder(project, ctx), ctx)
    assert verdict is not None and verdict.env is None and "environments.txt" in verdict.saw


# ----- pyenv ---------------------------------------------------------------------------------
def test_pyenv_python_version_naming_a_virtualenv(home: Path, repo: Path, tmp: Path) -> None:
    root = tmp / "pyenv"
    real = venv_at(root / "versions" / "3.12.1" / "envs" / "tools")
    (root / "versions" / "tools").symlink_to(real)
    (root / "versions" / "3.12.1" / "bin").mkdir(parents=True, exist_ok=True)
    write(repo / "p" / ".python-version", "3.12.1\n")
    ctx = context(home, PYENV_ROOT=str(root))
    verdict = pyenv_virtualenv(folder(repo / "p", ctx), ctx)
    assert verdict is not None and verdict.env is None and "not a virtualenv" in verdict.saw
    write(repo / "p" / ".python-version", "tools\n")
    verdict = pyenv_virtualenv(folder(repo / "p", ctx), ctx)
    assert verdict is not None and verdict.env == str(root / "versions" / "tools")


def test_mapping_key_through_a_symlink_matches_the_real_folder(home: Path, repo: Path, tmp: Path) -> None:
    env = venv_at(tmp / "envs" / "api")
    (repo / "services" / "api").mkdir(parents=True)
    (tmp / "link").symlink_to(repo)
    r = resolver(home, {f"{tmp}/link/services/*": str(env)})
    found = r.find(repo / "services" / "api" / "x.py")
    assert found is not None and found.path == env and found.project == repo / "services" / "api"


def test_in_project_finds_a_dotted_name(home: Path, repo: Path) -> None:
    env = venv_at(repo / "p" / "venv3.11")
    write(repo / "p" / "setup.cfg", "")
    ctx = context(home)
    verdict = in_project(folder(repo / "p", ctx), ctx)
    assert verdict is not None and verdict.env == str(env)
