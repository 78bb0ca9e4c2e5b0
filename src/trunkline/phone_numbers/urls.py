"""Portal pages under Numbers (and Settings → E911), included in the portal's URLs."""

from trunkline.phone_numbers.views import buy, e911, inventory, port_out, porting

urlpatterns = [
    *buy.urlpatterns,
    *inventory.urlpatterns,
    *e911.urlpatterns,
    *porting.urlpatterns,
    *port_out.urlpatterns,
]
