"""Box XMLs: what is written at known coordinates is read back exactly; other classes are ignored."""
from vitviz.data.voc import Box, VocObject, read_voc_objects, true_class_boxes, write_voc_xml


def test_box_roundtrip_and_true_class_filter(tmp_path):
    path = tmp_path / "n01_1.xml"
    objs = [VocObject("n01", Box(3, 5, 20, 31)), VocObject("n02", Box(0, 0, 7, 9)), VocObject("n01", Box(30, 1, 40, 12))]
    write_voc_xml(path, folder="n01", filename="n01_1", width=50, height=40, objects=objs)
    assert read_voc_objects(path) == objs
    assert true_class_boxes(path, "n01") == [Box(3, 5, 20, 31), Box(30, 1, 40, 12)]
    assert true_class_boxes(path, "n03") == []


def test_reads_real_imagenet_xml(tmp_path):
    # the schema of ILSVRC2012 bounding-box files, as distributed
    path = tmp_path / "n01440764_10040.xml"
    path.write_text("""<annotation>
	<folder>n01440764</folder>
	<filename>n01440764_10040</filename>
	<source><database>ILSVRC_2012</database></source>
	<size><width>500</width><height>375</height><depth>3</depth></size>
	<segmented>0</segmented>
	<object>
		<name>n01440764</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
		<bndbox><xmin>10</xmin><ymin>155</ymin><xmax>401</xmax><ymax>342</ymax></bndbox>
	</object>
</annotation>""")
    assert true_class_boxes(path, "n01440764") == [Box(10, 155, 401, 342)]


def test_intersection():
    assert Box(0, 0, 10, 10).intersection(Box(5, 5, 20, 20)) == 25
    assert Box(0, 0, 10, 10).intersection(Box(10, 0, 20, 10)) == 0
