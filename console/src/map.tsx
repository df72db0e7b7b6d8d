// A map with no tile server: the district's own GeoJSON (the caller's area) on a plain background, and pins.
// Basemap tiles are off: the machines the console runs on may have no internet.

import { useEffect, useRef } from "preact/hooks";
import L from "leaflet";
import type { GeoJsonObject } from "geojson";

export interface Pin {
  lat: number;
  lng: number;
  label: string;
  className?: string;
  /** Called when the pin is clicked. */
  onClick?: () => void;
}

/** `marked` lists the indexes of features drawn in red (a file's features the server refused). */
export function AreaMap({
  geojson,
  pins,
  height = 260,
  marked = [],
  featureLabel,
}: {
  geojson: string;
  pins: Pin[];
  height?: number;
  marked?: number[];
  /** The words shown over a feature on hover, from its properties (a grid's name, a jurisdiction's department). */
  featureLabel?: (properties: Record<string, unknown>) => string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const layers: L.Layer[] = [];
    let bounds: L.LatLngBounds | undefined;
    if (geojson) {
      try {
        const parsed = JSON.parse(geojson) as GeoJsonObject & { features?: { properties?: Record<string, unknown> | null }[] };
        parsed.features?.forEach((f, i) => {
          if (marked.includes(i)) f.properties = { ...f.properties, __marked: true };
        });
        const area = L.geoJSON(parsed, {
          style: (f) =>
            f?.properties?.__marked
              ? { color: "#c62828", weight: 3, fillOpacity: 0.3 }
              : { color: "#3b6ea5", weight: 1.5, fillOpacity: 0.08 },
          onEachFeature: (feature, layer) => {
            const words = featureLabel?.((feature.properties ?? {}) as Record<string, unknown>);
            if (words) layer.bindTooltip(words, { sticky: true });
          },
        });
        layers.push(area);
        if (area.getBounds().isValid()) bounds = area.getBounds();
      } catch {
        // An area that does not parse is left out; the pins still show.
      }
    }
    for (const pin of pins) {
      const marker = L.circleMarker([pin.lat, pin.lng], { radius: 7, weight: 2, className: pin.className ?? "" }).bindTooltip(pin.label);
      if (pin.onClick) marker.on("click", pin.onClick);
      layers.push(marker);
      bounds = bounds ? bounds.extend([pin.lat, pin.lng]) : L.latLngBounds([pin.lat, pin.lng], [pin.lat, pin.lng]);
    }
    // The view first: vector layers added to a map without one have nothing to draw into.
    const map = L.map(box.current, { attributionControl: false, zoomSnap: 0.25, zoomAnimation: false, fadeAnimation: false });
    if (bounds) map.fitBounds(bounds.pad(0.1), { maxZoom: 17, animate: false });
    else map.setView([39.9, 116.4], 11, { animate: false });
    for (const layer of layers) layer.addTo(map);
    return () => map.remove();
  }, [geojson, marked.join(), pins.map((p) => `${p.lat},${p.lng},${p.className ?? ""}`).join(";")]);
  return <div class="map" ref={box} style={{ height: `${height}px` }} />;
}
