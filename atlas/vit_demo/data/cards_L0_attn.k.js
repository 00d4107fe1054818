vitvizAtlas("cards_L0_attn.k",{"f":[35,60],"vis":["vis/blocks.0.attn.k_f0035.png","vis/blocks.0.attn.k_f0060.png"],"fail":["image","image"],"clip":[null,null],"score":[null,[1.269,0.206,0.15]]});
