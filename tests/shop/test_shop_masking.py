import pytest

from shop.masking import mask_address, mask_name, mask_phone, masked_address
from shop.models import AddressInput


@pytest.mark.parametrize(
    "raw,masked",
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("0571-8888666", "057****8666"),
        ("88886666", "88****66"),
        ("", ""),
        (None, ""),
        ("12", "****"),
    ],
)
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    "raw,masked",
    [
        ("张伟", "张*"),
        ("王小明", "王**"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳", "欧*"),
        ("张先生", "张先生"),
        ("李", "李*"),
        ("", ""),
    ],
)
def test_mask_name(raw, masked):
    assert mask_name(raw) == masked


@pytest.mark.parametrize(
    "raw,masked",
    [
        ("浙江省杭州市西湖区文三路90号3幢501室", "浙江省杭州市西湖区****"),
        ("上海市浦东新区张杨路500号", "上海市浦东新区****"),
        ("新疆维吾尔自治区乌鲁木齐市天山区解放南路8号", "新疆维吾尔自治区乌鲁木齐市天山区****"),
        ("广东省深圳市南山区 科技园南路18号", "广东省深圳市南山区****"),
        ("文三路90号3幢501室", "****"),
        ("", ""),
    ],
)
def test_mask_address_text(raw, masked):
    assert mask_address(raw) == masked


def test_mask_address_never_shows_the_street():
    for raw in ["浙江省杭州市西湖区", "杭州市西湖区", "北京市朝阳区建国路1号", "某某路1号"]:
        out = mask_address(raw)
        assert out.endswith("****")
        assert len(out) - 4 < len(raw)


def test_masked_address_view():
    a = AddressInput("张伟", "13812345678", "浙江省", "杭州市", "西湖区", "文三路90号3幢501室")
    view = masked_address(a)
    assert view.text == "浙江省杭州市西湖区****"
    assert (view.recipient, view.phone, view.place) == ("张*", "138****5678", "杭州市")
    assert "文三路" not in repr(view) and "13812345678" not in repr(view) and "张伟" not in repr(view)
    municipal = masked_address(AddressInput("李娜", "13998765432", "上海市", "上海市", "徐汇区", "宜山路1号"))
    assert municipal.text == "上海市徐汇区****"
