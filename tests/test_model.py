from rofs.model import Container, Location, Mount, SecuritySettings, VolumeKind, path_covers


def test_where_points_at_the_field_or_the_owning_object():
    obj = Location("deploy.yaml", 12, 9)
    field = Location("deploy.yaml", 15, 13)
    sec = SecuritySettings(read_only_root_fs=False, location=obj, field_locations=(("read_only_root_fs", field),))
    assert sec.where("read_only_root_fs") == field
    # A setting that is missing is reported at the object that should hold it.
    assert sec.where("allow_privilege_escalation") == obj
    assert str(obj) == "deploy.yaml:12:9"


def test_model_objects_are_frozen_and_comparable():
    a = Container(name="app", image="nginx", mounts=(Mount(path="/tmp", volume="tmp"),))
    b = Container(name="app", image="nginx", mounts=(Mount(path="/tmp", volume="tmp"),))
    assert a == b
    try:
        a.name = "other"  # type: ignore[misc]
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("model objects must be immutable")


def test_path_covers_is_component_wise():
    assert path_covers("/var/lib/postgresql", "/var/lib/postgresql/18/docker")
    assert path_covers("/tmp", "/tmp")
    assert path_covers("/tmp/", "/tmp/x")
    assert path_covers("/", "/anything")
    assert not path_covers("/var/lib/postgres", "/var/lib/postgresql")
    assert not path_covers("/tmp/x", "/tmp")


def test_volume_kinds():
    assert VolumeKind.PERSISTENT.survives_restart and not VolumeKind.EPHEMERAL.survives_restart
    assert not VolumeKind.CONFIG.writable_by_default
