"""The equipment a generated fleet is made of: models, firmware releases, metric baselines, sites."""

from __future__ import annotations

from typing import Final, NamedTuple


class EquipmentModel(NamedTuple):
    vendor: str
    model: str
    type: str
    expected_life_years: int
    firmware: tuple[str, ...]  # oldest first
    serial_prefix: str
    weight: int  # relative share of the fleet


class MetricRanges(NamedTuple):
    """Baseline ranges for a healthy device of one equipment type."""

    temperature: tuple[float, float]
    cpu: tuple[float, float]
    memory: tuple[float, float]
    latency: tuple[float, float]


class Site(NamedTuple):
    name: str
    location: str


IOS_XR = ("6.5.3", "6.7.4", "7.3.2", "7.5.2", "7.7.2", "7.9.2", "7.11.2", "24.2.1")
IOS_XE = ("16.9.8", "16.12.10", "17.3.8", "17.6.6", "17.9.4", "17.12.3")
NX_OS = ("9.3(8)", "9.3(10)", "9.3(12)", "10.2(6)", "10.3(4a)", "10.4(2)")
JUNOS = ("18.4R3", "19.4R3", "20.4R3", "21.4R3", "22.4R3", "23.4R2")
EOS = ("4.24.2F", "4.26.4M", "4.28.3M", "4.29.2F", "4.30.2F", "4.31.1F", "4.32.1F")
SR_OS = ("19.10.R4", "20.10.R7", "21.10.R3", "22.10.R4", "23.10.R2", "24.3.R1")
PSS = ("R10.1", "R11.0", "R12.0", "R13.1", "R23.6")
CIENA_6500 = ("R11.1", "R12.1", "R12.3", "R13.1", "R14.1")
WAVESERVER = ("1.6.1", "2.1.0", "2.3.3", "2.5.1", "3.1.0")
FORTIOS = ("6.2.12", "6.4.14", "7.0.13", "7.2.8", "7.4.3")
PAN_OS = ("9.1.16", "10.1.11", "10.2.7", "11.0.3", "11.1.2")
AXOS = ("R20.1", "R21.2", "R22.1", "R23.1", "R23.3")
TA5000 = ("10.2.1", "11.3.0", "12.1.2", "12.4.1", "13.2.0")
TMOS = ("14.1.5", "15.1.10", "16.1.4", "17.1.1")
UPS_FIRMWARE = ("2.1.0", "2.4.3", "3.0.1", "3.2.2")

CATALOG: Final = (
    EquipmentModel("Cisco", "ASR 9906", "Core Router", 12, IOS_XR, "FOX", 3),
    EquipmentModel("Cisco", "NCS 5501", "Aggregation Router", 10, IOS_XR, "FOC", 5),
    EquipmentModel("Cisco", "Catalyst 9300-48P", "Access Switch", 7, IOS_XE, "FCW", 14),
    EquipmentModel("Cisco", "Nexus 93180YC-FX", "Data Center Switch", 8, NX_OS, "FDO", 9),
    EquipmentModel("Juniper", "MX960", "Core Router", 12, JUNOS, "JN1", 3),
    EquipmentModel("Juniper", "MX204", "Edge Router", 9, JUNOS, "JN2", 6),
    EquipmentModel("Juniper", "QFX5120-48Y", "Data Center Switch", 8, JUNOS, "WS3", 7),
    EquipmentModel("Arista", "7500R3", "Core Switch", 10, EOS, "JPE", 3),
    EquipmentModel("Arista", "7050CX3-32S", "Data Center Switch", 7, EOS, "SSJ", 8),
    EquipmentModel("Ciena", "6500 T-Series", "Optical Transport System", 15, CIENA_6500, "NNTM", 2),
    EquipmentModel("Ciena", "Waveserver 5", "Optical Transport System", 12, WAVESERVER, "WSV", 2),
    EquipmentModel("Nokia", "7750 SR-7s", "Core Router", 12, SR_OS, "NS7", 2),
    EquipmentModel("Nokia", "7250 IXR-e", "Aggregation Router", 10, SR_OS, "NS2", 4),
    EquipmentModel("Nokia", "1830 PSS-32", "Optical Transport System", 15, PSS, "NS1", 2),
    EquipmentModel("Fortinet", "FortiGate 3000F", "Firewall", 7, FORTIOS, "FG3K", 3),
    EquipmentModel("Palo Alto Networks", "PA-5450", "Firewall", 8, PAN_OS, "0130", 3),
    EquipmentModel("Calix", "E9-2", "OLT (Optical Line Terminal)", 10, AXOS, "CXNK", 5),
    EquipmentModel("Adtran", "Total Access 5000", "Access Node", 12, TA5000, "LBAD", 4),
    EquipmentModel("F5", "BIG-IP i10800", "Load Balancer", 7, TMOS, "F5-", 2),
    EquipmentModel("Eaton", "93PM 100kW", "UPS", 12, UPS_FIRMWARE, "EA93", 2),
)

TYPE_RANGES: Final = {
    "Core Router": MetricRanges((42, 58), (20, 52), (40, 70), (1.0, 6.0)),
    "Edge Router": MetricRanges((38, 55), (15, 50), (35, 68), (2.0, 9.0)),
    "Aggregation Router": MetricRanges((38, 55), (15, 50), (35, 65), (1.5, 8.0)),
    "Core Switch": MetricRanges((38, 55), (10, 45), (30, 60), (0.5, 4.0)),
    "Access Switch": MetricRanges((32, 50), (5, 40), (25, 60), (0.5, 5.0)),
    "Data Center Switch": MetricRanges((36, 55), (10, 45), (30, 62), (0.3, 3.0)),
    "Firewall": MetricRanges((38, 56), (20, 55), (40, 70), (1.0, 8.0)),
    "Optical Transport System": MetricRanges((30, 48), (5, 30), (20, 50), (0.3, 3.0)),
    "OLT (Optical Line Terminal)": MetricRanges((35, 55), (10, 45), (30, 60), (2.0, 9.0)),
    "Access Node": MetricRanges((34, 54), (10, 40), (25, 60), (3.0, 10.0)),
    "Load Balancer": MetricRanges((36, 54), (15, 50), (35, 70), (0.5, 5.0)),
    "UPS": MetricRanges((24, 38), (3, 20), (15, 40), (0.5, 4.0)),
}
PACKET_LOSS_RANGE: Final = (0.0, 0.2)

REGIONS: Final = ("EAST", "WEST", "CENTRAL", "SOUTH")
REGION_CITIES: Final = {
    "EAST": ("Ashburn, VA", "Secaucus, NJ", "Boston, MA", "Philadelphia, PA", "Charlotte, NC"),
    "WEST": ("Santa Clara, CA", "Hillsboro, OR", "Phoenix, AZ", "Las Vegas, NV", "Los Angeles, CA"),
    "CENTRAL": ("Chicago, IL", "Denver, CO", "Columbus, OH", "Kansas City, MO", "Omaha, NE"),
    "SOUTH": ("Dallas, TX", "Atlanta, GA", "Miami, FL", "Houston, TX", "Nashville, TN"),
}


def build_sites(count: int) -> list[Site]:
    """Sites interleaved by region: DC-EAST1, DC-WEST1, DC-CENTRAL1, DC-SOUTH1, DC-EAST2, ..."""
    sites = []
    for index in range(count):
        region = REGIONS[index % len(REGIONS)]
        number = index // len(REGIONS) + 1
        cities = REGION_CITIES[region]
        sites.append(Site(f"DC-{region}{number}", cities[(number - 1) % len(cities)]))
    return sites
