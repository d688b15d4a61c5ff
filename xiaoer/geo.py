"""Province lookup for the places shoppers name ("寄到苏州" -> 江苏).

Covers every province-level region and its prefecture-level cities plus a few
well-known county-level cities; enough to pick a warehouse, a transit estimate
and the remote-area rule. Unknown places fall back to the store defaults.
"""
from __future__ import annotations

from typing import Dict, List, Optional

PROVINCE_CITIES: Dict[str, List[str]] = {
    "北京": ["北京", "朝阳", "海淀", "东城", "西城", "丰台", "通州", "昌平", "大兴", "顺义"],
    "天津": ["天津", "滨海新区"],
    "上海": ["上海", "浦东", "闵行", "徐汇", "静安", "松江", "嘉定", "宝山", "青浦"],
    "重庆": ["重庆", "渝北", "万州", "江北"],
    "河北": ["石家庄", "唐山", "秦皇岛", "邯郸", "邢台", "保定", "张家口", "承德", "沧州", "廊坊", "衡水", "雄安"],
    "山西": ["太原", "大同", "阳泉", "长治", "晋城", "朔州", "晋中", "运城", "忻州", "临汾", "吕梁"],
    "内蒙古": ["呼和浩特", "包头", "乌海", "赤峰", "通辽", "鄂尔多斯", "呼伦贝尔", "巴彦淖尔", "乌兰察布"],
    "辽宁": ["沈阳", "大连", "鞍山", "抚顺", "本溪", "丹东", "锦州", "营口", "阜新", "辽阳", "盘锦", "铁岭", "朝阳市", "葫芦岛"],
    "吉林": ["长春", "吉林市", "四平", "辽源", "通化", "白山", "松原", "白城", "延边", "延吉"],
    "黑龙江": ["哈尔滨", "齐齐哈尔", "鸡西", "鹤岗", "双鸭山", "大庆", "伊春", "佳木斯", "七台河", "牡丹江", "黑河", "绥化"],
    "江苏": ["南京", "无锡", "徐州", "常州", "苏州", "南通", "连云港", "淮安", "盐城", "扬州", "镇江", "泰州", "宿迁", "昆山", "江阴", "张家港", "常熟"],
    "浙江": ["杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水", "义乌", "余杭", "萧山"],
    "安徽": ["合肥", "芜湖", "蚌埠", "淮南", "马鞍山", "淮北", "铜陵", "安庆", "黄山", "滁州", "阜阳", "宿州", "六安", "亳州", "池州", "宣城"],
    "福建": ["福州", "厦门", "莆田", "三明", "泉州", "漳州", "南平", "龙岩", "宁德"],
    "江西": ["南昌", "景德镇", "萍乡", "九江", "新余", "鹰潭", "赣州", "吉安", "宜春", "抚州", "上饶"],
    "山东": ["济南", "青岛", "淄博", "枣庄", "东营", "烟台", "潍坊", "济宁", "泰安", "威海", "日照", "临沂", "德州", "聊城", "滨州", "菏泽"],
    "河南": ["郑州", "开封", "洛阳", "平顶山", "安阳", "鹤壁", "新乡", "焦作", "濮阳", "许昌", "漯河", "三门峡", "南阳", "商丘", "信阳", "周口", "驻马店"],
    "湖北": ["武汉", "黄石", "十堰", "宜昌", "襄阳", "鄂州", "荆门", "孝感", "荆州", "黄冈", "咸宁", "随州", "恩施"],
    "湖南": ["长沙", "株洲", "湘潭", "衡阳", "邵阳", "岳阳", "常德", "张家界", "益阳", "郴州", "永州", "怀化", "娄底", "湘西"],
    "广东": ["广州", "韶关", "深圳", "珠海", "汕头", "佛山", "江门", "湛江", "茂名", "肇庆", "惠州", "梅州", "汕尾", "河源", "阳江", "清远", "东莞", "中山", "潮州", "揭阳", "云浮"],
    "广西": ["南宁", "柳州", "桂林", "梧州", "北海", "防城港", "钦州", "贵港", "玉林", "百色", "贺州", "河池", "来宾", "崇左"],
    "海南": ["海口", "三亚", "三沙", "儋州", "琼海", "万宁"],
    "四川": ["成都", "自贡", "攀枝花", "泸州", "德阳", "绵阳", "广元", "遂宁", "内江", "乐山", "南充", "眉山", "宜宾", "广安", "达州", "雅安", "巴中", "资阳", "阿坝", "甘孜", "凉山"],
    "贵州": ["贵阳", "六盘水", "遵义", "安顺", "毕节", "铜仁", "黔东南", "黔南", "黔西南"],
    "云南": ["昆明", "曲靖", "玉溪", "保山", "昭通", "丽江", "普洱", "临沧", "楚雄", "红河", "文山", "西双版纳", "大理", "德宏", "怒江", "迪庆"],
    "西藏": ["拉萨", "日喀则", "昌都", "林芝", "山南", "那曲", "阿里"],
    "陕西": ["西安", "铜川", "宝鸡", "咸阳", "渭南", "延安", "汉中", "榆林", "安康", "商洛"],
    "甘肃": ["兰州", "嘉峪关", "金昌", "白银", "天水", "武威", "张掖", "平凉", "酒泉", "庆阳", "定西", "陇南", "临夏", "甘南"],
    "青海": ["西宁", "海东", "海北", "黄南", "海南州", "果洛", "玉树", "海西", "格尔木"],
    "宁夏": ["银川", "石嘴山", "吴忠", "固原", "中卫"],
    "新疆": ["乌鲁木齐", "克拉玛依", "吐鲁番", "哈密", "昌吉", "博尔塔拉", "巴音郭楞", "阿克苏", "克孜勒苏", "喀什", "和田", "伊犁", "塔城", "阿勒泰", "石河子", "库尔勒"],
    "香港": ["香港"],
    "澳门": ["澳门"],
    "台湾": ["台湾", "台北", "高雄", "台中"],
}

# Names shoppers use for groups of provinces.
REGION_ALIASES = {"江浙沪": "江苏", "东北": "辽宁", "西北": "陕西", "港澳台": "香港"}

_CITY_TO_PROVINCE: Dict[str, str] = {}
for _prov, _cities in PROVINCE_CITIES.items():
    for _c in _cities:
        _CITY_TO_PROVINCE.setdefault(_c, _prov)
        if _c.endswith("市") and len(_c) > 2:
            _CITY_TO_PROVINCE.setdefault(_c[:-1], _prov)

_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "省", "市", "区", "县", "州", "地区")


def _strip(place: str) -> str:
    p = place.strip()
    for suf in _SUFFIXES:
        if p.endswith(suf) and len(p) > len(suf) + 1:
            return p[: -len(suf)]
    return p


def province_for(place: str) -> Optional[str]:
    """'苏州' -> '江苏', '广东省' -> '广东', '新疆维吾尔自治区' -> '新疆'; None when unknown."""
    if not place:
        return None
    p = _strip(place)
    if p in PROVINCE_CITIES:
        return p
    if p in REGION_ALIASES:
        return REGION_ALIASES[p]
    if p in _CITY_TO_PROVINCE:
        return _CITY_TO_PROVINCE[p]
    # "浙江杭州" / "杭州市西湖区": take the longest known name inside the text
    best = None
    for name in list(PROVINCE_CITIES) + list(_CITY_TO_PROVINCE):
        if len(name) >= 2 and name in p and (best is None or len(name) > len(best)):
            best = name
    if best:
        return best if best in PROVINCE_CITIES else _CITY_TO_PROVINCE[best]
    return None


def all_place_names() -> List[str]:
    """Every province, city and region alias, for the entity lexicon."""
    names = set(PROVINCE_CITIES) | set(_CITY_TO_PROVINCE) | set(REGION_ALIASES)
    names |= {"江浙沪", "偏远地区"}
    return sorted(names, key=lambda n: (-len(n), n))
