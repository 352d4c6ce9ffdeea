import pytest

from rpsdet.data.formats.voc import VocError, VocObject, VocRecord, read_voc, write_voc


def test_round_trip_keeps_boxes_and_uses_one_based_inclusive_pixels(tmp_path):
    rec = VocRecord("a.jpg", 320, 240, 3, [VocObject("rock", (0, 5, 100, 80)), VocObject("paper", (10, 20, 320, 240))])
    write_voc(tmp_path / "a.xml", rec)
    xml = (tmp_path / "a.xml").read_text()
    assert "<xmin>1</xmin>" in xml and "<xmax>100</xmax>" in xml  # VOC: xmin = x1 + 1, xmax inclusive
    assert read_voc(tmp_path / "a.xml") == rec


@pytest.mark.parametrize(
    "text, message",
    [
        ("<annotation><size>", "not valid XML"),
        ("<foo/>", "expected <annotation>"),
        ("<annotation><filename>a.jpg</filename></annotation>", "missing <size>"),
        ("<annotation><size><width>w</width><height>2</height></size></annotation>", "<width> is 'w'"),
        (
            "<annotation><size><width>2</width><height>2</height></size><object><name>rock</name></object></annotation>",
            "object #1 (rock): has no <bndbox>",
        ),
    ],
)
def test_bad_files_raise_a_specific_message_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(VocError) as err:
        read_voc(path)
    assert "bad.xml" in str(err.value) and message in str(err.value)
