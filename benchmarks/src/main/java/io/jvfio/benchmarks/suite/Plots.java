package io.jvfio.benchmarks.suite;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One PNG per group: the cumulative distribution of each benchmark's and each baseline's samples,
 * latency on a logarithmic axis, so a median, a tail and a ratio can all be read off one picture.
 */
final class Plots {

    private static final int MAX_POINTS = 400;

    private Plots() {
    }

    static Map<String, Path> write(Path dir, List<Row> rows, SuiteResults results) throws IOException {
        Map<String, Set<String[]>> groups = new LinkedHashMap<>();
        for (Row r : rows) {
            Set<String[]> series = groups.computeIfAbsent(r.group(), g -> new LinkedHashSet<>());
            series.add(new String[] {r.label(), r.benchmark()});
            if (series.stream().noneMatch(s -> s[1].equals(r.baseline()))) {
                series.add(new String[] {"baseline: " + r.baselineLabel(), r.baseline()});
            }
        }
        Map<String, Path> files = new LinkedHashMap<>();
        for (Map.Entry<String, Set<String[]>> g : groups.entrySet()) {
            Map<String, Measured> measured = results.of(g.getKey()).measured();
            List<Measured> present = new ArrayList<>();
            for (String[] s : g.getValue()) {
                Measured m = measured.get(s[1]);
                if (m != null && m.sampled()) {
                    present.add(m);
                }
            }
            if (present.isEmpty()) {
                continue;
            }
            double maxMedian = present.stream().mapToDouble(Measured::medianNs).max().orElse(1);
            boolean micros = maxMedian >= 1000;
            double scale = micros ? 1e-3 : 1;
            String title = results.nestedGroup(g.getKey()) ? g.getKey() + " (in the nested VM: emulated)" : g.getKey();
            XYChart chart = new XYChartBuilder().width(1000).height(560).title(title)
                    .xAxisTitle("latency per operation (" + (micros ? "us" : "ns") + ", log scale)")
                    .yAxisTitle("percentile of samples").build();
            var style = chart.getStyler();
            style.setXAxisLogarithmic(true);
            style.setPlotGridLinesVisible(true);
            style.setYAxisMin(0.0);
            style.setYAxisMax(100.0);
            style.setLegendPosition(Styler.LegendPosition.InsideSE);
            style.setChartBackgroundColor(Color.WHITE);
            style.setMarkerSize(0);
            for (String[] s : g.getValue()) {
                Measured m = measured.get(s[1]);
                if (m == null || !m.sampled() || m.valuesNs().length == 0) {
                    continue;
                }
                double[][] cdf = cdf(m, scale);
                XYSeries series = chart.addSeries(unique(chart, s[0]), cdf[0], cdf[1]);
                series.setMarker(SeriesMarkers.NONE);
                if (s[0].startsWith("baseline: ")) {
                    series.setLineStyle(new java.awt.BasicStroke(2f, java.awt.BasicStroke.CAP_BUTT,
                            java.awt.BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
                }
            }
            Path file = dir.resolve(slug(g.getKey()) + ".png");
            BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
            files.put(g.getKey(), file);
        }
        return files;
    }

    /** x: latency at each distinct sample value; y: the percentage of samples at or below it. */
    static double[][] cdf(Measured m, double scale) {
        long total = 0;
        for (long c : m.counts()) {
            total += c;
        }
        int n = m.valuesNs().length;
        int step = Math.max(1, n / MAX_POINTS);
        List<double[]> points = new ArrayList<>();
        long seen = 0;
        for (int i = 0; i < n; i++) {
            seen += m.counts()[i];
            if (i % step == 0 || i == n - 1) {
                points.add(new double[] {Math.max(m.valuesNs()[i] * scale, 1e-3), 100.0 * seen / total});
            }
        }
        double[] x = new double[points.size()];
        double[] y = new double[points.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = points.get(i)[0];
            y[i] = points.get(i)[1];
        }
        return new double[][] {x, y};
    }

    private static String unique(XYChart chart, String name) {
        String n = name;
        for (int i = 2; chart.getSeriesMap().containsKey(n); i++) {
            n = name + " (" + i + ")";
        }
        return n;
    }

    static String slug(String group) {
        return Catalogue.PLOT_FILES.get(group);
    }
}
