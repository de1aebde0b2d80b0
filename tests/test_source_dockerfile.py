"""The Dockerfile reader: stages, continuations, heredocs, directives, forms, locations."""

from __future__ import annotations

import textwrap

import pytest

from conftest import CORPUS
from rofs.model import ContainerRole, Location, SourceFormat, VolumeKind
from rofs.sources.dockerfile import DockerfileSource, looks_like_dockerfile

PATH = "app/Dockerfile"


def read(text: str, path: str = PATH):
    return DockerfileSource().read(textwrap.dedent(text).lstrip("\n"), path)


def only(text: str, path: str = PATH):
    """The one workload and its container, after checking the read had no errors."""
    result = read(text, path)
    assert result.errors == []
    assert len(result.workloads) == 1
    workload = result.workloads[0]
    assert len(workload.containers) == 1
    return result, workload, workload.containers[0]


def env(container) -> dict[str, str | None]:
    return {var.name: var.value for var in container.env}


# --- stages -------------------------------------------------------------------------------


def test_multi_stage_reports_the_final_stage_only():
    result, workload, container = only(
        """
        # syntax=docker/dockerfile:1
        ARG BASE=python:3.11-slim
        FROM golang:1.22 AS build
        USER root
        ENV BUILD_ONLY=1
        CMD ["make"]
        VOLUME /build-cache

        FROM ${BASE} AS runtime
        WORKDIR /app
        USER app
        ENTRYPOINT ["python", "-m", "app"]
        """
    )
    assert result.format is SourceFormat.DOCKERFILE
    assert result.objects == 2
    assert workload.kind == "Dockerfile"
    assert workload.name == "runtime"
    assert workload.format is SourceFormat.DOCKERFILE
    assert workload.location == Location(PATH, 9, 1, 9, 24)
    assert container.name == "runtime"
    assert container.role is ContainerRole.MAIN
    assert container.image == "python:3.11-slim"
    assert container.user == "app"
    assert container.working_dir == "/app"
    assert container.command == ("python", "-m", "app")
    # ENTRYPOINT resets the base image's CMD: known to be empty, not unknown.
    assert container.args == ()
    assert container.shell_form is False
    assert env(container) == {}
    assert container.mounts == () and workload.volumes == ()
    assert container.where("image").line == 9
    assert container.where("user").line == 11
    assert container.where("command").line == 12
    assert container.where("args") == workload.location  # not written: points at the stage


def test_single_stage_without_name_is_named_after_the_file():
    result, workload, container = only("FROM nginx:1.27\n", path="deploy/web/Dockerfile.prod")
    assert result.objects == 1
    assert workload.name == "Dockerfile.prod"
    assert container.name == "final"
    assert container.image == "nginx:1.27"
    assert container.user is None  # inherited from the base image: unknown here
    assert container.command is None and container.args is None
    assert container.where("user") == Location("deploy/web/Dockerfile.prod", 1, 1, 1, 16)


def test_final_stage_built_from_an_earlier_stage_inherits_it():
    _, workload, container = only(
        """
        FROM python:3.12-alpine AS base
        ENV APP_HOME=/srv/app
        WORKDIR $APP_HOME
        USER app
        CMD ["flask", "run"]
        VOLUME /data

        FROM base AS dev
        RUN pip install debugpy
        """
    )
    assert workload.name == "dev"
    assert container.image == "python:3.12-alpine"
    assert container.user == "app"
    assert container.where("user").line == 4
    assert container.working_dir == "/srv/app"
    assert container.args == ("flask", "run")
    assert env(container) == {"APP_HOME": "/srv/app"}
    assert [m.path for m in container.mounts] == ["/data"]
    assert container.where("image").line == 8


def test_entrypoint_keeps_a_cmd_set_earlier_in_the_same_stage():
    _, _, container = only(
        """
        FROM redis:7
        CMD ["/run.sh"]
        ENTRYPOINT ["bash", "-c"]
        """
    )
    assert container.command == ("bash", "-c")
    assert container.args == ("/run.sh",)
    assert container.where("args").line == 2


# --- ARG substitution in FROM -------------------------------------------------------------


def test_arg_defaults_are_substituted_in_from():
    _, _, container = only(
        """
        ARG REGISTRY=docker.io
        ARG NAME="library/nginx"
        ARG TAG
        FROM --platform=$BUILDPLATFORM $REGISTRY/${NAME}:${TAG:-1.27}-alpine
        """
    )
    assert container.image == "docker.io/library/nginx:1.27-alpine"


def test_arg_without_default_is_left_as_written():
    _, _, container = only(
        """
        ARG VERSION
        FROM node:${VERSION}
        """
    )
    assert container.image == "node:${VERSION}"


def test_stage_args_and_env_expand_in_user_workdir_and_env():
    _, _, container = only(
        """
        ARG UID=10001
        FROM alpine:3.20
        ARG UID
        ARG HOME_DIR=/home/app
        ENV HOME=$HOME_DIR DATA=${HOME_DIR}/data PATH=/opt/bin:$PATH
        WORKDIR ${HOME}
        WORKDIR sub/../work
        USER ${UID}:${UID}
        """
    )
    assert container.user == "10001:10001"
    assert container.working_dir == "/home/app/work"
    # PATH comes from the base image: unknown here, so left as written.
    assert env(container) == {"HOME": "/home/app", "DATA": "/home/app/data", "PATH": "/opt/bin:$PATH"}


# --- USER --------------------------------------------------------------------------------


def test_last_user_wins_and_onbuild_does_not_count():
    _, _, container = only(
        """
        FROM debian:bookworm
        USER root
        RUN apt-get update
        USER 1000
        ONBUILD USER root
        RUN echo done
        """
    )
    assert container.user == "1000"
    assert container.where("user") == Location(PATH, 4, 1, 4, 10)


# --- ENV ---------------------------------------------------------------------------------


def test_env_both_forms_with_locations():
    _, _, container = only(
        """
        FROM alpine
        ENV LEGACY value with spaces
        ENV K=V K2="v 2" K3='single $quoted' K4=esc\\ aped
        ENV EMPTY=
        ENV K=override
        """
    )
    assert env(container) == {
        "LEGACY": "value with spaces",
        "K2": "v 2",
        "K3": "single $quoted",
        "K4": "esc aped",
        "EMPTY": "",
        "K": "override",
    }
    by_name = {var.name: var for var in container.env}
    assert by_name["LEGACY"].location == Location(PATH, 2, 5)
    assert by_name["K2"].location == Location(PATH, 3, 9)
    assert by_name["K"].location == Location(PATH, 5, 5)  # the last ENV of a name wins


def test_env_values_expand_against_the_environment_before_the_instruction():
    _, _, container = only(
        """
        FROM alpine
        ENV abc=hello
        ENV abc=bye def=$abc
        ENV ghi=$abc
        """
    )
    assert env(container) == {"abc": "bye", "def": "hello", "ghi": "bye"}


# --- continuations -----------------------------------------------------------------------


def test_continuations_skip_comments_and_blank_lines_and_keep_locations():
    _, _, container = only(
        """
        FROM alpine
        ENV A=1 \\
            # a comment inside the instruction
            B="two words" \\

            C=3
        USER \\
          nobody
        CMD echo one \\
            && echo two
        """
    )
    assert env(container) == {"A": "1", "B": "two words", "C": "3"}
    locations = {var.name: var.location for var in container.env}
    assert locations["A"] == Location(PATH, 2, 5)
    assert locations["B"] == Location(PATH, 4, 5)
    assert locations["C"] == Location(PATH, 6, 5)
    assert container.user == "nobody"
    assert container.where("user") == Location(PATH, 7, 1, 8, 9)
    assert container.args == ("echo one     && echo two",)
    assert container.shell_form is True
    assert container.where("args") == Location(PATH, 9, 1, 10, 16)


def test_an_escaped_escape_at_the_end_does_not_continue():
    _, _, container = only(
        """
        FROM alpine
        RUN echo C:\\\\
        USER app
        """
    )
    assert container.user == "app"


def test_crlf_line_endings():
    result = DockerfileSource().read("FROM alpine\r\nUSER app\r\nCMD [\"sh\"]\r\n", PATH)
    assert result.errors == []
    container = result.workloads[0].containers[0]
    assert container.user == "app"
    assert container.args == ("sh",)


# --- heredocs ----------------------------------------------------------------------------


def test_heredoc_bodies_are_not_instructions():
    result, _, container = only(
        """
        FROM debian:bookworm
        RUN <<EOF
        FROM evil:latest
        USER root
        EOF
        RUN cat <<-'FIRST' > /a && cat <<"SECOND" > /b
        \tUSER inside
        \tFIRST
        CMD ["not", "a", "command"]
        SECOND
        COPY <<conf /etc/app.conf
        ENTRYPOINT ["nope"]
        conf
        USER app
        CMD ["run"]
        """
    )
    assert result.objects == 1
    assert container.user == "app"
    assert container.where("user").line == 14
    assert container.command is None
    assert container.args == ("run",)


def test_quoted_or_exec_form_markers_open_no_heredoc():
    _, _, container = only(
        """
        FROM alpine
        RUN echo "<<EOF"
        USER one
        RUN ["sh", "-c", "cat <<EOF"]
        USER two
        """
    )
    assert container.user == "two"


def test_heredoc_after_onbuild():
    _, _, container = only(
        """
        FROM alpine
        ONBUILD RUN <<EOF
        USER root
        EOF
        USER app
        """
    )
    assert container.user == "app"


def test_unterminated_heredoc_is_a_read_error():
    result = read(
        """
        FROM alpine
        USER app
        RUN <<EOF
        echo never ends
        """
    )
    assert result.workloads == []
    assert len(result.errors) == 1
    assert result.errors[0].line == 3
    assert "unterminated heredoc" in result.errors[0].message


# --- parser directives -------------------------------------------------------------------


def test_backtick_escape_directive():
    _, workload, container = only(
        """
        # syntax=docker/dockerfile:1
        # escape=`
        FROM mcr.microsoft.com/windows/servercore:ltsc2022
        WORKDIR C:\\app
        RUN dir `
            c:\\
        ENV TOOLS="C:\\tools;C:\\app" `
            MODE=prod
        USER ContainerUser
        CMD ["cmd.exe", "/c", "C:\\\\app\\\\run.bat"]
        """
    )
    assert workload.location.line == 3
    assert container.working_dir == "C:\\app"
    assert env(container) == {"TOOLS": "C:\\tools;C:\\app", "MODE": "prod"}
    assert container.user == "ContainerUser"
    assert container.where("user").line == 9
    assert container.args == ("cmd.exe", "/c", "C:\\app\\run.bat")


def test_directive_after_a_comment_is_a_plain_comment():
    _, _, container = only(
        """
        # a comment first
        # escape=`
        FROM alpine
        RUN echo a `
        USER b
        """
    )
    assert container.user == "b"


def test_rofs_pragma_is_a_suppression_not_a_directive():
    result, _, container = only(
        """
        # rofs: ignore=RO301 -- the base image sets a non-root user
        # escape=`
        FROM nginxinc/nginx-unprivileged:1.27
        RUN echo `
        USER nginx
        """
    )
    # the pragma ends the directives: the backtick is no escape, so USER is an instruction
    assert container.user == "nginx"
    assert len(result.suppressions) == 1
    pragma = result.suppressions[0]
    assert pragma.rules == ("RO301",)
    assert pragma.reason == "the base image sets a non-root user"
    assert pragma.line == 1


def test_pragma_before_an_instruction():
    result, _, container = only(
        """
        FROM alpine
        # rofs: ignore=RO201
        USER root
        """
    )
    assert [s.line for s in result.suppressions] == [2]
    assert result.suppressions[0].matches("RO201", "x", None, container.where("user").line)


# --- exec and shell form -----------------------------------------------------------------


def test_exec_and_shell_form():
    _, _, container = only(
        """
        FROM nginx
        ENTRYPOINT /docker-entrypoint.sh
        CMD ["nginx", "-g", "daemon off;"]
        """
    )
    assert container.command == ("/docker-entrypoint.sh",)
    assert container.args == ("nginx", "-g", "daemon off;")
    assert container.shell_form is True  # the last ENTRYPOINT is in shell form


def test_shell_form_cmd_without_entrypoint():
    _, _, container = only(
        """
        FROM python:3.12
        CMD exec gunicorn app:app --bind "0.0.0.0:$PORT"
        """
    )
    assert container.command is None
    assert container.args == ('exec gunicorn app:app --bind "0.0.0.0:$PORT"',)
    assert container.shell_form is True


def test_exec_entrypoint_with_shell_cmd_is_exec_form():
    _, _, container = only(
        """
        FROM python:3.12
        CMD run.sh
        ENTRYPOINT ["tini", "--"]
        """
    )
    assert container.shell_form is False
    assert container.args == ("run.sh",)


def test_shell_test_bracket_is_shell_form_without_error():
    _, _, container = only(
        """
        FROM alpine
        CMD [ -f /etc/app.conf ] && exec app
        """
    )
    assert container.args == ("[ -f /etc/app.conf ] && exec app",)
    assert container.shell_form is True


def test_invalid_json_array_is_an_error_and_read_as_shell_form():
    result = read(
        """
        FROM nginx
        CMD ['nginx', '-g', 'daemon off;']
        """
    )
    assert [e.line for e in result.errors] == [2]
    assert "JSON" in result.errors[0].message
    container = result.workloads[0].containers[0]
    assert container.args == ("['nginx', '-g', 'daemon off;']",)
    assert container.shell_form is True


def test_json_array_of_non_strings_is_an_error():
    result = read(
        """
        FROM alpine
        ENTRYPOINT ["sleep", 10]
        """
    )
    assert [e.line for e in result.errors] == [2]
    assert result.workloads[0].containers[0].shell_form is True


# --- VOLUME ------------------------------------------------------------------------------


def test_volume_json_and_plain_forms():
    _, workload, container = only(
        """
        FROM postgres:16
        VOLUME ["/var/lib/postgresql/data", "/var/log/pg"]
        VOLUME /cache /tmp/scratch/
        VOLUME /cache
        """
    )
    paths = [m.path for m in container.mounts]
    assert paths == ["/var/lib/postgresql/data", "/var/log/pg", "/cache", "/tmp/scratch"]
    assert [m.volume for m in container.mounts] == [f"VOLUME:{p}" for p in paths]
    assert [v.name for v in workload.volumes] == [f"VOLUME:{p}" for p in paths]
    assert all(v.kind is VolumeKind.PERSISTENT and v.type == "VOLUME" for v in workload.volumes)
    assert workload.volume("VOLUME:/cache") is not None
    assert container.mounts[0].location == Location(PATH, 2, 10)
    assert container.mounts[1].location == Location(PATH, 2, 38)
    assert container.mounts[3].location == Location(PATH, 3, 15)
    assert workload.volumes[2].location == Location(PATH, 3, 8)
    assert container.where("volumes") == Location(PATH, 2, 1, 2, 51)


def test_volume_paths_expand_variables():
    _, _, container = only(
        """
        FROM cassandra
        ENV CASSANDRA_DATA=/cassandra_data
        VOLUME ["/$CASSANDRA_DATA"]
        """
    )
    assert [m.path for m in container.mounts] == ["/cassandra_data"]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("apiVersion: v1\nkind: Pod\n", 1, "not a Dockerfile"),
        ("#!/bin/sh\nset -e\necho hi\n", 2, "not a Dockerfile"),
        ("# only a comment\n\n", None, "no instructions"),
        ("", None, "no instructions"),
        ("ARG A=1\nARG B=2\n", None, "no FROM"),
    ],
)
def test_not_a_dockerfile_is_a_read_error(text, line, words):
    result = DockerfileSource().read(text, PATH)
    assert result.workloads == []
    assert len(result.errors) == 1
    assert result.errors[0].line == line
    assert words in result.errors[0].message


def test_unknown_instruction_is_reported_and_the_rest_read():
    result = read(
        """
        FROM alpine
        RUNN echo typo
        USER app
        """
    )
    assert [(e.line, e.message) for e in result.errors] == [(2, "unknown instruction: RUNN")]
    assert result.workloads[0].containers[0].user == "app"


def test_garbage_never_raises():
    for text in ("\x00\x01\x02", "FROM", "FROM a b c d", "FROM alpine\nENV\n", "FROM alpine\nENV A\n",
                 "FROM alpine\nVOLUME []\n", "FROM alpine\nUSER\n", "FROM alpine\nENV ${\n", "\\\n\\\n"):
        result = DockerfileSource().read(text, PATH)
        assert result.workloads or result.errors


# --- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "FROM alpine\n",
        "from alpine as base\nrun echo hi\n",
        "# syntax=docker/dockerfile:1.7\n# escape=`\n\n# build the app\nARG BASE=debian\nFROM ${BASE}\nRUN a `\n  b\n",
        ("\ufeff# comment\n\nFROM --platform=$BUILDPLATFORM golang:1.22 AS build\nRUN <<EOF\nnot an instruction\n"
         "neither this\nnor this\nEOF\nCMD [\"app\"]\n"),
    ],
)
def test_looks_like_dockerfile_true(text):
    assert looks_like_dockerfile(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only comments\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
        "services:\n  web:\n    image: nginx\n",
        "#!/bin/bash\nset -euo pipefail\nFROM=alpine\necho $FROM\n",
        "from os import path\nimport sys\n",
        "from os import path\n",
        "FROM alpine\nthis is\nnot really\na dockerfile\nat all\n",
        "RUN echo no FROM first\nFROM alpine\n",
    ],
)
def test_looks_like_dockerfile_false(text):
    assert not looks_like_dockerfile(text)


# --- the corpus --------------------------------------------------------------------------


def _corpus_dockerfiles():
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file()
        and (p.name == "Dockerfile" or p.name.startswith("Dockerfile.") or p.name.endswith(".Dockerfile"))
    )


def test_corpus_has_the_dockerfiles():
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    assert len(_corpus_dockerfiles()) == 112


@pytest.mark.parametrize("path", _corpus_dockerfiles(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_dockerfile_reads(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    assert looks_like_dockerfile(text)
    result = DockerfileSource().read(text, str(path))
    assert result.errors == []
    assert len(result.workloads) == 1
    assert result.objects >= 1
    container = result.workloads[0].containers[0]
    assert container.image
