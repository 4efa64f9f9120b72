"""The words of the demo corpus: facts about the fictional company Northwind Labs.

The facts are invented and deliberately distinctive (names, places, odd numbers), so that a
search for one of them has exactly one right answer and the demo shows whether it was found.
Each fact lives in one kind of content only: a native PDF table, a chart's pixels, a scan's
pixels, Markdown, HTML or plain text.
"""

from __future__ import annotations

COMPANY = "Northwind Labs"

QUARTERS = ("Q1", "Q2", "Q3", "Q4")

#: Revenue per region and quarter of 2025, in million EUR (the table on page 2).
REVENUE: dict[str, tuple[float, float, float, float]] = {
    "Nordics": (12.1, 13.0, 14.7, 16.3),
    "DACH": (8.4, 9.6, 10.2, 11.8),
    "Benelux": (5.3, 5.8, 6.1, 6.9),
    "North America": (5.6, 6.8, 7.9, 9.6),
}

CHART_TITLE = "Quarterly revenue 2025 (million EUR)"
CHART_SUBTITLE = "All regions combined"


def quarter_totals() -> list[float]:
    """Revenue of all regions per quarter: the chart shows these, the table does not."""
    return [round(sum(row[i] for row in REVENUE.values()), 1) for i in range(len(QUARTERS))]


REPORT_TITLE = f"{COMPANY} - Annual Report 2025"

#: Paragraphs of page 1. Plain text in a standard PDF font: HTML layout would shape "ffi" and
#: "fi" into ligature glyphs, and extracted words like "officer" would then not match a search.
REPORT_INTRO = (
    f"{COMPANY} AS designs environmental sensors and the software that collects their "
    "measurements. The company was founded in 2011 and has its headquarters in Tromsø, Norway, "
    "with sales offices in Hamburg, Rotterdam and Boston.",
    "Our chief executive officer is Ingrid Solberg-Amari, who has led the company since 2019. "
    f"At the end of 2025 {COMPANY} employed 412 people.",
    "The product family has three members: the Aurora environmental sensor, which measures air "
    "quality, temperature and humidity; the Fjordlink gateway, which relays sensor readings over "
    "LoRa radio; and Skyvault, our cloud platform for storing and analysing the data.",
    "A milestone of the year: in October 2025 we installed our 100,000th Aurora sensor, on a "
    "crane at the Port of Rotterdam.",
)

TABLE_HEADING = "Revenue by region"
TABLE_INTRO = "Quarterly revenue in 2025 per sales region, in million EUR."

CHART_HEADING = "Revenue development"
CHART_CAPTION = "Figure 1: Revenue per quarter in 2025, summed over all sales regions."

SCAN_TEXT = """FIELD NOTES - 14 August 2025
Kaldfonna glacier, Lyngen Alps

Our team of four hiked to the front of the Kaldfonna glacier, starting at 06:30.
Using the GPS stakes from last year we measured that the ice front has retreated
38 metres since August 2024.
Meltwater temperature at the outlet stream: 1.6 degrees.
Aurora sensor AUR-7 was mounted on the large boulder marked with a red cross.
Next visit planned for 20 September 2025.

- Maja Lindqvist"""

GUIDE = """# Fjordlink Gateway User Guide

The Fjordlink gateway connects up to 64 Aurora sensors to the Skyvault cloud.

![architecture diagram](images/architecture.png)

## Installation

1. Mount the gateway within 2 kilometres of the sensors, as high as possible.
2. Connect the power supply (12 V DC) and the Ethernet cable.
3. Wait until the status light turns steady green, which takes about 90 seconds.

## Usage

Open the Skyvault dashboard and choose **Add gateway**. Enter the eight-character pairing
code printed on the back of the gateway. Sensors within range appear automatically.
Readings are sent to the cloud every 5 minutes over MQTT on port 8883.

## Troubleshooting

If the status light blinks orange, the gateway cannot reach the cloud: check the network.
To reset the gateway to factory settings, hold the reset button for 12 seconds.
"""

PRODUCT_NAME = "AURORA MINI"

PRESS_RELEASE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{COMPANY} launches Aurora Mini</title>
</head>
<body>
<h1>{COMPANY} launches Aurora Mini, a solar-powered air-quality sensor</h1>
<p><em>Tromsø, 3 March 2025</em></p>
<p>{COMPANY} today announced Aurora Mini, the smallest sensor in the Aurora family.
It weighs only 180 grams and runs entirely on its built-in solar panel, even through the
polar night, thanks to a battery that stores energy for 40 days.</p>
<figure>
<img src="images/product.png" alt="Aurora Mini sensor with solar panel and status light">
<figcaption>The Aurora Mini sensor, available in grey from May 2025.</figcaption>
</figure>
<p>Aurora Mini costs 149 EUR and measures fine dust (PM2.5), nitrogen dioxide and
temperature. First deliveries go to the city of Bergen, which ordered 1,200 units.</p>
</body>
</html>
"""

NOTES = """Office notes, 2 February 2026

- The board approved a second office in Lisbon, opening in September 2026.
- The office dog at the Tromsø headquarters is a border collie named Pixel.
- The quarterly all-hands meeting moves to Thursdays at 10:00.
- The espresso machine on the third floor was repaired by Jonas on 30 January.
"""
