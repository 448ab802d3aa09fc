"""The only code that talks to the iamport (PortOne V1) REST API: IamportClient and IamportError."""

from storefront.iamport.client import IamportClient
from storefront.iamport.errors import IamportError
from storefront.iamport.wire import Amount, Timestamp

__all__ = ["Amount", "IamportClient", "IamportError", "Timestamp"]
