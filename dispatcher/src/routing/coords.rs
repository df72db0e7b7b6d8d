//! Datum conversion to WGS-84 from the offset systems Chinese map SDKs report: GCJ-02 (AMap, Tencent) and BD-09 (Baidu).
//!
//! GCJ-02 is a published forward transform with no closed inverse, so the inverse iterates the forward transform to sub-millimetre agreement.

use std::f64::consts::PI;

use gridwhistle_domain::CoordinateSystem;

/// Krasovsky 1940 semi-major axis and eccentricity squared, as the GCJ-02 transform uses them.
const A: f64 = 6_378_245.0;
const EE: f64 = 0.006_693_421_622_965_943;
const X_PI: f64 = PI * 3000.0 / 180.0;

/// GCJ-02 leaves points outside mainland China's rough bounding box unshifted.
fn outside_china(lat: f64, lng: f64) -> bool {
    !(72.004..=137.8347).contains(&lng) || !(0.8293..=55.8271).contains(&lat)
}

fn shift_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn shift_lng(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS-84 to GCJ-02, the published forward transform.
pub fn wgs84_to_gcj02(lat: f64, lng: f64) -> (f64, f64) {
    if outside_china(lat, lng) {
        return (lat, lng);
    }
    let d_lat = shift_lat(lng - 105.0, lat - 35.0);
    let d_lng = shift_lng(lng - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    let d_lng = (d_lng * 180.0) / (A / sqrt_magic * rad_lat.cos() * PI);
    (lat + d_lat, lng + d_lng)
}

/// GCJ-02 to WGS-84 by fixed-point iteration of the forward transform (its shift varies slowly, so this converges fast).
pub fn gcj02_to_wgs84(lat: f64, lng: f64) -> (f64, f64) {
    if outside_china(lat, lng) {
        return (lat, lng);
    }
    let (mut w_lat, mut w_lng) = (lat, lng);
    for _ in 0..30 {
        let (g_lat, g_lng) = wgs84_to_gcj02(w_lat, w_lng);
        let (e_lat, e_lng) = (g_lat - lat, g_lng - lng);
        w_lat -= e_lat;
        w_lng -= e_lng;
        // 1e-10 degrees is about 0.01 mm.
        if e_lat.abs() < 1e-10 && e_lng.abs() < 1e-10 {
            break;
        }
    }
    (w_lat, w_lng)
}

/// BD-09 to GCJ-02, Baidu's published inverse.
pub fn bd09_to_gcj02(lat: f64, lng: f64) -> (f64, f64) {
    let x = lng - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.000_02 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000_003 * (x * X_PI).cos();
    (z * theta.sin(), z * theta.cos())
}

/// GCJ-02 to BD-09, Baidu's published forward transform.
pub fn gcj02_to_bd09(lat: f64, lng: f64) -> (f64, f64) {
    let z = (lng * lng + lat * lat).sqrt() + 0.000_02 * (lat * X_PI).sin();
    let theta = lat.atan2(lng) + 0.000_003 * (lng * X_PI).cos();
    (z * theta.sin() + 0.006, z * theta.cos() + 0.0065)
}

/// Converts a reported position to WGS-84 (latitude, longitude).
pub fn to_wgs84(lat: f64, lng: f64, system: CoordinateSystem) -> (f64, f64) {
    match system {
        CoordinateSystem::Wgs84 => (lat, lng),
        CoordinateSystem::Gcj02 => gcj02_to_wgs84(lat, lng),
        CoordinateSystem::Bd09 => {
            let (g_lat, g_lng) = bd09_to_gcj02(lat, lng);
            gcj02_to_wgs84(g_lat, g_lng)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: (f64, f64), expected: (f64, f64), tolerance_deg: f64) {
        let (d_lat, d_lng) = ((actual.0 - expected.0).abs(), (actual.1 - expected.1).abs());
        assert!(
            d_lat <= tolerance_deg && d_lng <= tolerance_deg,
            "{actual:?} is not within {tolerance_deg} of {expected:?}"
        );
    }

    // Published pairs: the test vectors of the widely used coordtransform library, for (116.404, 39.915) near Tiananmen.
    #[test]
    fn the_forward_transforms_match_published_pairs() {
        assert_close(
            wgs84_to_gcj02(39.915, 116.404),
            (39.916_404_281_501_64, 116.410_244_499_169_38),
            1e-12,
        );
        assert_close(
            gcj02_to_bd09(39.915, 116.404),
            (39.921_336_993_510_21, 116.410_369_493_710_29),
            1e-12,
        );
        assert_close(
            bd09_to_gcj02(39.915, 116.404),
            (39.908_656_739_576_31, 116.397_627_291_193_15),
            1e-12,
        );
    }

    #[test]
    fn the_gcj02_inverse_agrees_with_the_published_approximation_to_a_metre_and_round_trips_exactly()
     {
        // The published inverse is a one-step approximation; ours iterates and is closer, so agree to about a metre.
        let wgs = gcj02_to_wgs84(39.915, 116.404);
        assert_close(wgs, (39.913_595_718_498_36, 116.397_755_500_830_61), 1e-5);
        assert_close(wgs84_to_gcj02(wgs.0, wgs.1), (39.915, 116.404), 1e-10);
    }

    #[test]
    fn beijing_railway_station_converts_between_baidu_and_amap() {
        // 北京站: GCJ-02 (39.90245, 116.42703), BD-09 (39.90851, 116.43351), as published to five decimals.
        assert_close(
            bd09_to_gcj02(39.90851, 116.43351),
            (39.90245, 116.42703),
            1e-5,
        );
        assert_close(
            gcj02_to_bd09(39.90245, 116.42703),
            (39.90851, 116.43351),
            1e-5,
        );
    }

    #[test]
    fn points_outside_china_are_not_shifted() {
        assert_eq!(wgs84_to_gcj02(51.5, -0.12), (51.5, -0.12));
        assert_eq!(
            to_wgs84(51.5, -0.12, CoordinateSystem::Gcj02),
            (51.5, -0.12)
        );
    }

    #[test]
    fn the_offset_in_beijing_is_hundreds_of_metres() {
        let (lat, lng) = to_wgs84(39.915, 116.404, CoordinateSystem::Gcj02);
        let metres_east = (116.404 - lng) * 111_320.0 * (39.915_f64.to_radians().cos());
        let metres_north = (39.915 - lat) * 110_574.0;
        assert!((400.0..700.0).contains(&metres_east.hypot(metres_north)));
    }
}
