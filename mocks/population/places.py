"""Places for the seeded population: province codes and a sample of Hà Nội's districts and wards.

Rules:
- Province codes are the three-digit CCCD codes of the 63 provinces before the 2025 merger,
  copied from ``shared/reference/provinces.json``; the two-digit administrative code
  (``MaTinhThanh``) is the same number without its leading zero (``001`` → ``01``).
- District and ward codes follow the General Statistics Office's list (3 and 5 digits).
  Only a sample of Hà Nội is kept: enough variety for realistic addresses, not a gazetteer.
- Pure data, no I/O: the seed generator draws from these tuples in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

HANOI_CODE = "001"

PROVINCES: dict[str, str] = {
    "001": "Thành phố Hà Nội",
    "002": "Tỉnh Hà Giang",
    "004": "Tỉnh Cao Bằng",
    "006": "Tỉnh Bắc Kạn",
    "008": "Tỉnh Tuyên Quang",
    "010": "Tỉnh Lào Cai",
    "011": "Tỉnh Điện Biên",
    "012": "Tỉnh Lai Châu",
    "014": "Tỉnh Sơn La",
    "015": "Tỉnh Yên Bái",
    "017": "Tỉnh Hoà Bình",
    "019": "Tỉnh Thái Nguyên",
    "020": "Tỉnh Lạng Sơn",
    "022": "Tỉnh Quảng Ninh",
    "024": "Tỉnh Bắc Giang",
    "025": "Tỉnh Phú Thọ",
    "026": "Tỉnh Vĩnh Phúc",
    "027": "Tỉnh Bắc Ninh",
    "030": "Tỉnh Hải Dương",
    "031": "Thành phố Hải Phòng",
    "033": "Tỉnh Hưng Yên",
    "034": "Tỉnh Thái Bình",
    "035": "Tỉnh Hà Nam",
    "036": "Tỉnh Nam Định",
    "037": "Tỉnh Ninh Bình",
    "038": "Tỉnh Thanh Hóa",
    "040": "Tỉnh Nghệ An",
    "042": "Tỉnh Hà Tĩnh",
    "044": "Tỉnh Quảng Bình",
    "045": "Tỉnh Quảng Trị",
    "046": "Tỉnh Thừa Thiên Huế",
    "048": "Thành phố Đà Nẵng",
    "049": "Tỉnh Quảng Nam",
    "051": "Tỉnh Quảng Ngãi",
    "052": "Tỉnh Bình Định",
    "054": "Tỉnh Phú Yên",
    "056": "Tỉnh Khánh Hòa",
    "058": "Tỉnh Ninh Thuận",
    "060": "Tỉnh Bình Thuận",
    "062": "Tỉnh Kon Tum",
    "064": "Tỉnh Gia Lai",
    "066": "Tỉnh Đắk Lắk",
    "067": "Tỉnh Đắk Nông",
    "068": "Tỉnh Lâm Đồng",
    "070": "Tỉnh Bình Phước",
    "072": "Tỉnh Tây Ninh",
    "074": "Tỉnh Bình Dương",
    "075": "Tỉnh Đồng Nai",
    "077": "Tỉnh Bà Rịa - Vũng Tàu",
    "079": "Thành phố Hồ Chí Minh",
    "080": "Tỉnh Long An",
    "082": "Tỉnh Tiền Giang",
    "083": "Tỉnh Bến Tre",
    "084": "Tỉnh Trà Vinh",
    "086": "Tỉnh Vĩnh Long",
    "087": "Tỉnh Đồng Tháp",
    "089": "Tỉnh An Giang",
    "091": "Tỉnh Kiên Giang",
    "092": "Thành phố Cần Thơ",
    "093": "Tỉnh Hậu Giang",
    "094": "Tỉnh Sóc Trăng",
    "095": "Tỉnh Bạc Liêu",
    "096": "Tỉnh Cà Mau",
}


@dataclass(frozen=True)
class Ward:
    """One ward (phường/xã) of Hà Nội with its district and a few of its streets."""

    district_code: str
    district_name: str
    ward_code: str
    ward_name: str
    streets: tuple[str, ...]


def _district(
    code: str, name: str, streets: tuple[str, ...], wards: tuple[tuple[str, str], ...]
) -> list[Ward]:
    return [Ward(code, name, ward_code, ward_name, streets) for ward_code, ward_name in wards]


HANOI_WARDS: tuple[Ward, ...] = tuple(
    _district(
        "001",
        "Quận Ba Đình",
        ("phố Kim Mã", "phố Đội Cấn", "phố Liễu Giai", "phố Quán Thánh", "phố Giảng Võ"),
        (
            ("00001", "Phường Phúc Xá"),
            ("00004", "Phường Trúc Bạch"),
            ("00007", "Phường Cống Vị"),
            ("00013", "Phường Quán Thánh"),
            ("00022", "Phường Đội Cấn"),
            ("00028", "Phường Kim Mã"),
            ("00031", "Phường Giảng Võ"),
        ),
    )
    + _district(
        "002",
        "Quận Hoàn Kiếm",
        ("phố Hàng Bạc", "phố Hàng Gai", "phố Hàng Bông", "phố Tràng Tiền", "phố Hàng Đào"),
        (
            ("00037", "Phường Phúc Tân"),
            ("00040", "Phường Đồng Xuân"),
            ("00049", "Phường Hàng Đào"),
            ("00061", "Phường Hàng Bạc"),
            ("00064", "Phường Hàng Gai"),
            ("00076", "Phường Hàng Bông"),
            ("00079", "Phường Tràng Tiền"),
        ),
    )
    + _district(
        "003",
        "Quận Tây Hồ",
        ("đường Âu Cơ", "đường Lạc Long Quân", "phố Xuân Diệu", "phố Thụy Khuê"),
        (
            ("00091", "Phường Phú Thượng"),
            ("00094", "Phường Nhật Tân"),
            ("00100", "Phường Quảng An"),
            ("00103", "Phường Xuân La"),
            ("00109", "Phường Bưởi"),
            ("00112", "Phường Thụy Khuê"),
        ),
    )
    + _district(
        "004",
        "Quận Long Biên",
        ("đường Nguyễn Văn Cừ", "phố Ngọc Lâm", "đường Ngô Gia Tự", "phố Việt Hưng"),
        (
            ("00115", "Phường Thượng Thanh"),
            ("00118", "Phường Ngọc Thụy"),
            ("00124", "Phường Đức Giang"),
            ("00127", "Phường Việt Hưng"),
            ("00133", "Phường Ngọc Lâm"),
            ("00139", "Phường Bồ Đề"),
        ),
    )
    + _district(
        "005",
        "Quận Cầu Giấy",
        ("đường Cầu Giấy", "phố Trần Thái Tông", "phố Hoàng Quốc Việt", "phố Nguyễn Khang"),
        (
            ("00157", "Phường Nghĩa Đô"),
            ("00160", "Phường Nghĩa Tân"),
            ("00163", "Phường Mai Dịch"),
            ("00166", "Phường Dịch Vọng"),
            ("00169", "Phường Quan Hoa"),
            ("00172", "Phường Yên Hoà"),
            ("00175", "Phường Trung Hoà"),
        ),
    )
    + _district(
        "006",
        "Quận Đống Đa",
        ("phố Tôn Đức Thắng", "phố Khâm Thiên", "phố Láng Hạ", "phố Thái Hà", "phố Xã Đàn"),
        (
            ("00178", "Phường Cát Linh"),
            ("00181", "Phường Văn Miếu"),
            ("00187", "Phường Láng Thượng"),
            ("00199", "Phường Láng Hạ"),
            ("00202", "Phường Khâm Thiên"),
            ("00229", "Phường Kim Liên"),
            ("00232", "Phường Phương Mai"),
        ),
    )
    + _district(
        "007",
        "Quận Hai Bà Trưng",
        ("phố Huế", "phố Bạch Mai", "phố Minh Khai", "phố Lò Đúc", "phố Trần Khát Chân"),
        (
            ("00241", "Phường Nguyễn Du"),
            ("00262", "Phường Phố Huế"),
            ("00271", "Phường Thanh Nhàn"),
            ("00277", "Phường Bách Khoa"),
            ("00286", "Phường Bạch Mai"),
            ("00295", "Phường Minh Khai"),
        ),
    )
    + _district(
        "008",
        "Quận Hoàng Mai",
        ("đường Giải Phóng", "đường Tam Trinh", "phố Trương Định", "đường Lĩnh Nam"),
        (
            ("00304", "Phường Vĩnh Hưng"),
            ("00307", "Phường Định Công"),
            ("00313", "Phường Tương Mai"),
            ("00316", "Phường Đại Kim"),
            ("00328", "Phường Lĩnh Nam"),
            ("00337", "Phường Hoàng Liệt"),
        ),
    )
    + _district(
        "009",
        "Quận Thanh Xuân",
        ("đường Nguyễn Trãi", "phố Khương Trung", "đường Lê Văn Lương", "phố Vũ Trọng Phụng"),
        (
            ("00343", "Phường Nhân Chính"),
            ("00346", "Phường Thượng Đình"),
            ("00349", "Phường Khương Trung"),
            ("00355", "Phường Thanh Xuân Trung"),
            ("00367", "Phường Thanh Xuân Bắc"),
            ("00373", "Phường Kim Giang"),
        ),
    )
    + _district(
        "268",
        "Quận Hà Đông",
        ("đường Quang Trung", "phố Tô Hiệu", "đường Tố Hữu", "phố Lê Trọng Tấn"),
        (
            ("09538", "Phường Nguyễn Trãi"),
            ("09541", "Phường Mộ Lao"),
            ("09542", "Phường Văn Quán"),
            ("09544", "Phường Vạn Phúc"),
            ("09550", "Phường Quang Trung"),
            ("09556", "Phường Hà Cầu"),
        ),
    )
)
