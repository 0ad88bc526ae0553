"""A job's request as stored for its worker: uploads kept as files in the job's uploads folder."""

from types import SimpleNamespace

import pytest

from processes.jobrequests import MissingUpload, load_request, save_request


def wps_request():
    return SimpleNamespace(version="1.0.0", language="en-US", identifier="Sleeper", store_execute="true",
                           status="true", lineage=False, outputs={}, raw=False, default_mimetype="",
                           http_request=None)


def test_uploads_go_to_the_uploads_folder_and_come_back_from_it(tmp_path):
    raw = {"image": [{"data": b"II*\0" + bytes(10), "mimeType": "image/tiff"}], "seconds": [{"data": "0.2"}]}
    saved = save_request(wps_request(), raw, tmp_path / "shared" / "job-1")
    assert "data" not in saved["inputs"]["image"][0], "the upload is not kept in the database"
    assert saved["inputs"]["seconds"] == [{"data": "0.2"}]
    assert (tmp_path / "shared" / "job-1" / "upload-1").read_bytes() == b"II*\0" + bytes(10)
    assert load_request(saved, tmp_path / "shared" / "job-1")["image"][0]["data"] == b"II*\0" + bytes(10)


def test_an_upload_missing_on_this_server_says_which_and_what_to_set(tmp_path):
    raw = {"image": [{"data": "<a/>", "mimeType": "text/xml"}]}
    saved = save_request(wps_request(), raw, tmp_path / "accepting-server" / "inputs")
    with pytest.raises(MissingUpload, match=r"'image'.*\[candela\] uploads"):
        load_request(saved, tmp_path / "other-server" / "inputs")
