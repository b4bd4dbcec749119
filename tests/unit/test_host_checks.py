from execbox.sandbox.cgroups import CgroupSettings
from execbox.sandbox.host import check_cgroups, check_kvm


def test_missing_cgroups_are_reported_not_skipped(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("22 1 0:21 / /proc rw - proc proc rw\n")
    own = tmp_path / "cgroup"
    own.write_text("0::/\n")
    check = check_cgroups(CgroupSettings(root=str(tmp_path), mountinfo_path=str(mountinfo),
                                         proc_cgroup_path=str(own)))
    assert not check.ok and check.required
    assert "v1" in check.detail and "v2" in check.detail


def test_kvm_is_optional():
    assert check_kvm().required is False
