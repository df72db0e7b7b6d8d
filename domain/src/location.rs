//! Points on the ground: validated WGS-84 coordinates and the datums devices report in.

/// The datum a device reported its position in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinateSystem {
    /// WGS-84 as reported by raw GNSS; CGCS2000 agrees with it to centimetres.
    Wgs84,
    /// China's offset datum used by AMap and Tencent SDKs.
    Gcj02,
    /// Baidu's offset datum on top of GCJ-02.
    Bd09,
}

impl CoordinateSystem {
    /// The stable text form used in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            CoordinateSystem::Wgs84 => "wgs84",
            CoordinateSystem::Gcj02 => "gcj02",
            CoordinateSystem::Bd09 => "bd09",
        }
    }
}

impl std::str::FromStr for CoordinateSystem {
    type Err = crate::case::UnknownVariant;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "wgs84" => Ok(CoordinateSystem::Wgs84),
            "gcj02" => Ok(CoordinateSystem::Gcj02),
            "bd09" => Ok(CoordinateSystem::Bd09),
            _ => Err(crate::case::UnknownVariant {
                kind: "coordinate system",
                text: text.to_owned(),
            }),
        }
    }
}

/// Why a coordinate is not a point on Earth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("must be a finite number")]
    NotFinite,
    #[error("latitude must be between -90 and 90")]
    LatitudeOutOfRange,
    #[error("longitude must be between -180 and 180")]
    LongitudeOutOfRange,
    #[error("accuracy must be a finite, non-negative number of metres")]
    BadAccuracy,
}

/// A finite latitude and longitude in degrees, within range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    lat: f64,
    lng: f64,
}

impl GeoPoint {
    pub fn new(lat: f64, lng: f64) -> Result<Self, LocationError> {
        Ok(Self {
            lat: Self::latitude(lat)?,
            lng: Self::longitude(lng)?,
        })
    }

    /// A latitude alone, checked as [`GeoPoint::new`] checks it, so a caller can name the ordinate that is wrong.
    pub fn latitude(lat: f64) -> Result<f64, LocationError> {
        if !lat.is_finite() {
            return Err(LocationError::NotFinite);
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(LocationError::LatitudeOutOfRange);
        }
        Ok(lat)
    }

    /// A longitude alone, checked as [`GeoPoint::new`] checks it.
    pub fn longitude(lng: f64) -> Result<f64, LocationError> {
        if !lng.is_finite() {
            return Err(LocationError::NotFinite);
        }
        if !(-180.0..=180.0).contains(&lng) {
            return Err(LocationError::LongitudeOutOfRange);
        }
        Ok(lng)
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }

    pub fn lng(&self) -> f64 {
        self.lng
    }
}

/// A GPS accuracy radius in metres; zero when unknown.
pub fn check_accuracy(metres: f64) -> Result<f64, LocationError> {
    if metres.is_finite() && metres >= 0.0 {
        Ok(metres)
    } else {
        Err(LocationError::BadAccuracy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_must_be_finite_and_in_range() {
        assert!(GeoPoint::new(39.9, 116.4).is_ok());
        assert_eq!(
            GeoPoint::new(f64::NAN, 116.4),
            Err(LocationError::NotFinite)
        );
        assert_eq!(
            GeoPoint::new(91.0, 0.0),
            Err(LocationError::LatitudeOutOfRange)
        );
        assert_eq!(
            GeoPoint::new(0.0, -180.5),
            Err(LocationError::LongitudeOutOfRange)
        );
        assert_eq!(check_accuracy(-1.0), Err(LocationError::BadAccuracy));
        assert_eq!(
            check_accuracy(f64::INFINITY),
            Err(LocationError::BadAccuracy)
        );
    }
}
