"""Run by ParaView's pvpython (not by pytest): open each export with ParaView's own readers.

Usage: ``pvpython --force-offscreen-rendering pv_probe.py JOBS.json OUT.json``. For every file
it reports the reader ParaView picks (or the one named), the time steps, and per image block
(keyed by its point array's name) the array names and the values found at given world points.
A ``render`` job shows one slice with ParaView's default camera and saves a PNG.
"""

import json
import sys

from paraview import servermanager, simple
from vtkmodules.util.numpy_support import vtk_to_numpy


def leaves(data):
    if data.IsA("vtkImageData"):
        yield data
        return
    it = data.NewIterator()
    it.InitTraversal()
    while not it.IsDoneWithTraversal():
        yield it.GetCurrentDataObject()
        it.GoToNextItem()


def open_reader(path, reader):
    if reader == "auto":
        return simple.OpenDataFile(path)
    if reader == "XDMFReader":
        return simple.XDMFReader(FileNames=[path])
    return getattr(simple, reader)(FileName=[path])


def probe(job):
    source = open_reader(job["path"], job.get("reader", "auto"))
    times = [float(t) for t in getattr(source, "TimestepValues", None) or []]
    report = {"reader": source.GetXMLName(), "times": times, "steps": {}}
    for t in times or [0.0]:
        source.UpdatePipeline(t)
        blocks = {}
        for image in leaves(servermanager.Fetch(source)):
            pd = image.GetPointData()
            names = [pd.GetArrayName(i) for i in range(pd.GetNumberOfArrays())]
            values = vtk_to_numpy(pd.GetArray(0)) if names else None
            found = []
            for point in job["points"]:
                idx = image.FindPoint(point)
                at = image.GetPoint(idx) if idx >= 0 else None
                found.append([float(values[idx]) if idx >= 0 else None, at])
            blocks[names[0] if names else "?"] = {
                "arrays": names,
                "components": pd.GetArray(0).GetNumberOfComponents() if names else 0,
                "found": found,
            }
        report["steps"][str(t)] = blocks
    simple.Delete(source)
    return report


def render(job):
    source = simple.OpenDataFile(job["path"])
    view = simple.CreateRenderView()
    view.ViewSize = job["size"]
    view.OrientationAxesVisibility = 0
    view.UseColorPaletteForBackground = 0
    view.Background = [0.0, 0.0, 1.0]  # pure blue: never a grey of the map
    view.CameraParallelProjection = 1
    shown = simple.Show(source, view)
    shown.SetRepresentationType("Slice")
    shown.Slice = job["slice"]
    simple.ColorBy(shown, ("POINTS", job["array"]))
    lut = simple.GetColorTransferFunction(job["array"])
    lut.ApplyPreset("Grayscale", True)
    lut.RescaleTransferFunction(*job["range"])
    view.ResetCamera()  # ParaView's default camera: looking down -z, +y up
    simple.Render(view)
    simple.SaveScreenshot(job["png"], view, ImageResolution=job["size"])
    return {"png": job["png"]}


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    out = {key: (render(job) if "png" in job else probe(job)) for key, job in jobs.items()}
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


main()
