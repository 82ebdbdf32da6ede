//! The adoption chart: installs running each version over time, drawn as SVG on the
//! server from the fleet aggregate's samples (see [`crate::metrics_fleet`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::time_format::when;
use crate::metrics_fleet::AdoptionSample;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const PAD: f64 = 36.0;
/// Colours of the series, in turn.
const COLOURS: [&str; 8] = [
    "#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d",
];

/// Escapes text for an SVG text node or attribute.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as an `<svg>` element; every label in it is escaped.
pub(crate) fn adoption_svg(samples: &[AdoptionSample]) -> String {
    let mut series: BTreeMap<&(String, String), Vec<(i64, u64)>> = BTreeMap::new();
    for s in samples {
        for (key, n) in &s.versions {
            series.entry(key).or_default().push((s.at, *n));
        }
    }
    let first = samples.first().map_or(0, |s| s.at);
    let last = samples.last().map_or(0, |s| s.at);
    let span = (last - first).max(1) as f64;
    let top = series
        .values()
        .flat_map(|pts| pts.iter().map(|(_, n)| *n))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let x = |at: i64| PAD + (at - first) as f64 / span * (WIDTH - 2.0 * PAD);
    let y = |n: u64| HEIGHT - PAD - n as f64 / top * (HEIGHT - 2.0 * PAD);
    let mut svg = format!(
        "<svg id=\"adoption-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {h}\" \
         role=\"img\" aria-label=\"installs by version over time\">",
        h = HEIGHT + 20.0 * series.len() as f64
    );
    axes(&mut svg, top, (first, last));
    for (i, ((app, version), pts)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = pts
            .iter()
            .map(|(at, n)| format!("{:.1},{:.1}", x(*at), y(*n)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        for (at, n) in pts {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                x(*at),
                y(*n)
            );
        }
        let newest = pts.last().map_or(0, |(_, n)| *n);
        let _ = write!(
            svg,
            "<text x=\"{PAD}\" y=\"{:.0}\" fill=\"{colour}\" font-size=\"13\">{} {}: {newest}</text>",
            HEIGHT + 14.0 + 20.0 * i as f64,
            escape(app),
            escape(version)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn axes(svg: &mut String, top: f64, (first, last): (i64, i64)) {
    let _ = write!(
        svg,
        "<text x=\"{PAD}\" y=\"{y}\" font-size=\"11\">{}</text>\
         <text x=\"{r}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
        when(first),
        when(last),
        y = HEIGHT - PAD + 14.0,
        r = WIDTH - PAD,
    );
    let _ = write!(
        svg,
        "<line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#888\"/>\
         <line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"#888\"/>\
         <text x=\"4\" y=\"{t}\" font-size=\"11\">{top}</text>\
         <text x=\"4\" y=\"{b}\" font-size=\"11\">0</text>",
        b = HEIGHT - PAD,
        r = WIDTH - PAD,
        t = PAD + 4.0,
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_label_cannot_inject_markup() {
        let sample = AdoptionSample {
            at: 1,
            versions: vec![(("<script>".into(), "1.0.0\"".into()), 3)],
        };
        let svg = adoption_svg(&[sample]);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt; 1.0.0&quot;: 3"), "{svg}");
    }
}
