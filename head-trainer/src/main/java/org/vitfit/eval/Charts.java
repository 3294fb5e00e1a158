package org.vitfit.eval;

import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.SymbolAxis;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.PaintScale;
import org.jfree.chart.renderer.xy.XYBlockRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.PaintScaleLegend;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.data.xy.DefaultXYZDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.vitfit.heads.TrainingCurve;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** PNG charts of a training run, drawn with JFreeChart (headless). */
public final class Charts {

    private Charts() {
    }

    /**
     * Confusion-matrix heatmap: rows are true classes (top to bottom), columns predicted classes; each cell is shaded
     * by the share of its row (so classes of any size compare), counts are in {@code metrics.json}.
     */
    public static void confusionMatrix(ClassificationReport report, Path png) throws IOException {
        List<String> labels = report.labels();
        int k = labels.size();
        double[] xs = new double[k * k];
        double[] ys = new double[k * k];
        double[] zs = new double[k * k];
        for (int t = 0; t < k; t++) {
            long rowTotal = 0;
            for (int p = 0; p < k; p++) {
                rowTotal += report.confusion()[t][p];
            }
            for (int p = 0; p < k; p++) {
                int i = t * k + p;
                xs[i] = p;
                ys[i] = t;
                zs[i] = rowTotal == 0 ? 0 : report.confusion()[t][p] / (double) rowTotal;
            }
        }
        DefaultXYZDataset data = new DefaultXYZDataset();
        data.addSeries("share of true class", new double[][] {xs, ys, zs});
        String[] names = labels.toArray(new String[0]);
        Font tick = new Font(Font.SANS_SERIF, Font.PLAIN, k > 40 ? 8 : 11);
        SymbolAxis predicted = new SymbolAxis("predicted", names);
        predicted.setVerticalTickLabels(true);
        predicted.setTickLabelFont(tick);
        SymbolAxis truth = new SymbolAxis("true", names);
        truth.setInverted(true);
        truth.setTickLabelFont(tick);
        XYBlockRenderer renderer = new XYBlockRenderer();
        BluePaintScale scale = new BluePaintScale();
        renderer.setPaintScale(scale);
        XYPlot plot = new XYPlot(data, predicted, truth, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinesVisible(false);
        plot.setRangeGridlinesVisible(false);
        JFreeChart chart = new JFreeChart("Confusion matrix (" + report.split() + ", accuracy "
                + String.format(java.util.Locale.ROOT, "%.3f", report.accuracy()) + ")",
                JFreeChart.DEFAULT_TITLE_FONT, plot, false);
        NumberAxis legendAxis = new NumberAxis("share of true class");
        legendAxis.setRange(0, 1);
        PaintScaleLegend legend = new PaintScaleLegend(scale, legendAxis);
        legend.setPosition(RectangleEdge.RIGHT);
        legend.setFrame(new BlockBorder(Color.WHITE));
        legend.setMargin(4, 4, 40, 4);
        chart.addSubtitle(legend);
        chart.setBackgroundPaint(Color.WHITE);
        int side = Math.max(640, 18 * k + 320);
        ChartUtils.saveChartAsPNG(png.toFile(), chart, side + 80, side);
    }

    /** Loss per epoch (training, and validation when there was one) above the validation metric per epoch. */
    public static void trainingCurve(TrainingCurve curve, String title, Path png) throws IOException {
        XYSeriesCollection losses = new XYSeriesCollection();
        losses.addSeries(series("training loss", curve.trainLoss()));
        if (!curve.validationLoss().isEmpty()) {
            losses.addSeries(series("validation loss", curve.validationLoss()));
        }
        NumberAxis epochAxis = new NumberAxis(curve.unit());
        epochAxis.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        CombinedDomainXYPlot combined = new CombinedDomainXYPlot(epochAxis);
        NumberAxis lossAxis = new NumberAxis("loss");
        lossAxis.setAutoRangeIncludesZero(false);
        XYPlot lossPlot = new XYPlot(losses, null, lossAxis, lineRenderer(losses.getSeriesCount()));
        combined.add(lossPlot, 3);
        if (!curve.validationMetric().isEmpty()) {
            XYSeriesCollection metric = new XYSeriesCollection(series("validation " + curve.metricName(),
                    curve.validationMetric()));
            NumberAxis metricAxis = new NumberAxis(curve.metricName());
            metricAxis.setAutoRangeIncludesZero(false);
            XYPlot metricPlot = new XYPlot(metric, null, metricAxis, lineRenderer(1));
            metricPlot.getRenderer().setSeriesPaint(0, new Color(0x2ca02c));
            combined.add(metricPlot, 2);
        }
        ValueMarker best = new ValueMarker(curve.bestEpoch());
        best.setPaint(Color.GRAY);
        best.setStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 1f, new float[] {4f, 4f}, 0f));
        best.setLabel("kept " + curve.unit() + " " + curve.bestEpoch());
        best.setLabelFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
        for (Object p : combined.getSubplots()) {
            ((XYPlot) p).addDomainMarker(best);
            ((XYPlot) p).setBackgroundPaint(Color.WHITE);
            ((XYPlot) p).setDomainGridlinePaint(Color.LIGHT_GRAY);
            ((XYPlot) p).setRangeGridlinePaint(Color.LIGHT_GRAY);
        }
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, combined, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 800, 600);
    }

    private static XYSeries series(String name, List<Double> values) {
        XYSeries s = new XYSeries(name);
        for (int i = 0; i < values.size(); i++) {
            s.add(i + 1, values.get(i));
        }
        return s;
    }

    private static XYLineAndShapeRenderer lineRenderer(int series) {
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        Color[] colors = {new Color(0x1f77b4), new Color(0xff7f0e)};
        for (int i = 0; i < series; i++) {
            r.setSeriesPaint(i, colors[i % colors.length]);
            r.setSeriesStroke(i, new BasicStroke(2f));
        }
        return r;
    }

    /** White (0) to dark blue (1). */
    private static final class BluePaintScale implements PaintScale {
        @Override
        public double getLowerBound() {
            return 0;
        }

        @Override
        public double getUpperBound() {
            return 1;
        }

        @Override
        public Paint getPaint(double value) {
            double v = Double.isNaN(value) ? 0 : Math.max(0, Math.min(1, value));
            int r = (int) Math.round(255 + (8 - 255) * v);
            int g = (int) Math.round(255 + (48 - 255) * v);
            int b = (int) Math.round(255 + (107 - 255) * v);
            return new Color(r, g, b);
        }
    }
}
